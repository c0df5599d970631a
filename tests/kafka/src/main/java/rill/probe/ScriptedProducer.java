package rill.probe;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka's Java producer driven by a script, for rill's consumer interop
 * tests: records with or without keys and headers, any codec, and
 * transactions that commit or abort.
 *
 * Usage: ScriptedProducer PRODUCER.properties TOPIC SCRIPT
 *
 * PRODUCER.properties holds client and producer settings (compression.type,
 * transactional.id, ...). SCRIPT has one tab-separated command per line:
 *
 *   send  PARTITION  KEY  VALUE  HEADERS   (KEY/VALUE "\N" = null; HEADERS "k=v;k2=v2" or empty)
 *   begin | commit | abort | flush
 *
 * Output: one line "SENT partition offset" per send, in script order
 * (aborted records too: they have offsets in the log), then "DONE".
 * Transactions need transactional.id; initTransactions runs first.
 */
public final class ScriptedProducer {
    private static final String NULL = "\\N";

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: ScriptedProducer PRODUCER.properties TOPIC SCRIPT");
            System.exit(2);
        }
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        String topic = args[1];
        List<String> script = Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (props.containsKey("transactional.id")) {
                producer.initTransactions();
            }
            for (String line : script) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                switch (f[0]) {
                    case "send": {
                        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
                            topic, Integer.parseInt(f[1]), bytes(f[2]), bytes(f[3]));
                        if (f.length > 4 && !f[4].isEmpty()) {
                            for (String header : f[4].split(";")) {
                                String[] kv = header.split("=", 2);
                                record.headers().add(new RecordHeader(kv[0], kv.length > 1 ? bytes(kv[1]) : null));
                            }
                        }
                        sent.add(producer.send(record));
                        break;
                    }
                    case "begin": producer.beginTransaction(); break;
                    case "commit": producer.commitTransaction(); break;
                    case "abort": producer.flush(); producer.abortTransaction(); break;
                    case "flush": producer.flush(); break;
                    default: throw new IllegalArgumentException("unknown script command: " + f[0]);
                }
            }
            producer.flush();
        }
        for (Future<RecordMetadata> future : sent) {
            RecordMetadata metadata = future.get(30, TimeUnit.SECONDS);
            System.out.println("SENT\t" + metadata.partition() + "\t" + metadata.offset());
        }
        System.out.println("DONE");
        System.out.flush();
    }

    private static byte[] bytes(String text) {
        return NULL.equals(text) ? null : text.getBytes(StandardCharsets.UTF_8);
    }
}
