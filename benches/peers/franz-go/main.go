// franz-bench: the franz-go side of rill's producer and consumer benchmarks.
//
// It reads the same payload file as every other client (one record value per
// line), produces or consumes with the settings it is given, and prints one
// JSON line: {"records":N,"bytes":B,"seconds":S}. The timed span runs from
// the first produce call to the last acknowledgement (produce), or from
// client creation to the last record (consume, direct partition consumption
// with no group); CPU is measured by the caller.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	mode := flag.String("mode", "produce", "produce or consume")
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := flag.String("topic", "", "topic")
	records := flag.Int("records", 1000000, "records to produce or consume")
	payloadFile := flag.String("payload-file", "", "one record value per line")
	compression := flag.String("compression", "none", "none or lz4")
	lingerMs := flag.Int("linger-ms", 5, "producer linger")
	batchBytes := flag.Int("batch-bytes", 1048576, "producer batch max bytes")
	flag.Parse()

	var err error
	switch *mode {
	case "produce":
		err = produce(*brokers, *topic, *records, *payloadFile, *compression, *lingerMs, *batchBytes)
	case "consume":
		err = consume(*brokers, *topic, *records)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "franz-bench:", err)
		os.Exit(1)
	}
}

func readPayloads(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		line := strings.TrimRight(scanner.Text(), "\r")
		out = append(out, []byte(line))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no payload", path)
	}
	return out, scanner.Err()
}

func report(records, bytes int64, elapsed time.Duration) {
	line, _ := json.Marshal(map[string]any{"records": records, "bytes": bytes, "seconds": elapsed.Seconds()})
	fmt.Println(string(line))
}

func produce(brokers, topic string, records int, payloadFile, compression string, lingerMs, batchBytes int) error {
	payloads, err := readPayloads(payloadFile)
	if err != nil {
		return err
	}
	codec := kgo.NoCompression()
	if compression == "lz4" {
		codec = kgo.Lz4Compression()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Duration(lingerMs)*time.Millisecond),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerBatchMaxBytes(int32(batchBytes)),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := context.Background()
	var failed atomic.Int64
	var firstErr sync.Once
	var firstErrValue error
	var bytes int64
	start := time.Now()
	for i := 0; i < records; i++ {
		value := payloads[i%len(payloads)]
		bytes += int64(len(value))
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.Do(func() { firstErrValue = err })
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d records failed, first: %v", n, firstErrValue)
	}
	report(int64(records), bytes, elapsed)
	return nil
}

func consume(brokers, topic string, records int) error {
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var got, bytes int64
	// Timed from NewClient: franz-go starts fetching in the background
	// there, so timing from the first record would hide that fetch.
	for got < int64(records) {
		fetches := cl.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("fetch: %v", errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	report(got, bytes, time.Since(start))
	return nil
}
