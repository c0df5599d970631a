package rill.golden;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.record.internal.CompressionType;
import org.apache.kafka.common.record.internal.ControlRecordType;
import org.apache.kafka.common.record.internal.EndTransactionMarker;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.MemoryRecordsBuilder;
import org.apache.kafka.common.record.internal.Record;
import org.apache.kafka.common.record.internal.RecordBatch;

/**
 * Record batch vectors written by Java's MemoryRecordsBuilder, and the values each one
 * must decode to. The same description checks Java's own bytes (generate) and rill's
 * bytes (verify), and is written to records.txt for the Rust test.
 */
final class Batches {
    record Rec(long offset, long timestamp, byte[] key, byte[] value, Header[] headers) {}

    /** One batch as written; for legacy uncompressed message sets, one batch per message. */
    record Batch(byte magic, CompressionType codec, long baseOffset, int leaderEpoch, long producerId,
                 short producerEpoch, int baseSequence, boolean transactional, EndTransactionMarker marker,
                 long logAppendTime, List<Rec> records) {
        boolean control() {
            return marker != null;
        }

        TimestampType timestampType() {
            if (magic == 0) return TimestampType.NO_TIMESTAMP_TYPE;
            return logAppendTime == RecordBatch.NO_TIMESTAMP ? TimestampType.CREATE_TIME : TimestampType.LOG_APPEND_TIME;
        }

        /** A record's timestamp as readers see it: the broker's for LogAppendTime batches. */
        long readTimestamp(Rec r) {
            return timestampType() == TimestampType.LOG_APPEND_TIME ? logAppendTime : r.timestamp();
        }
    }

    static final long T0 = 1700000000000L;
    static final HexFormat HEX = HexFormat.of();

    /** Vector name to the batches of its file, in order. */
    final Map<String, List<Batch>> vectors = new LinkedHashMap<>();
    private final Map<String, byte[]> bytes = new LinkedHashMap<>();

    Batches() {
        CompressionType[] codecs = {CompressionType.NONE, CompressionType.GZIP, CompressionType.SNAPPY,
                CompressionType.LZ4, CompressionType.ZSTD};
        for (CompressionType c : codecs) {
            add("records_v2_" + c.name, v2(c, 0, 3, -1, (short) -1, -1, false, standardRecords(0)));
        }
        add("records_v2_idempotent", v2(CompressionType.NONE, 1000, 5, 4000, (short) 0, 17, false, standardRecords(1000)));
        add("records_v2_transactional", v2(CompressionType.NONE, 1000, 5, 4001, (short) 2, 0, true, standardRecords(1000).subList(0, 3)));
        add("records_v2_transactional_zstd", v2(CompressionType.ZSTD, 1000, 5, 4001, (short) 2, 0, true, standardRecords(1000)));
        add("records_v2_control_commit", control(1005, ControlRecordType.COMMIT));
        add("records_v2_control_abort", control(1005, ControlRecordType.ABORT));
        List<Rec> std = standardRecords(100);
        add("records_v2_two_batches",
                v2(CompressionType.NONE, 100, 5, -1, (short) -1, -1, false, std.subList(0, 2)),
                v2(CompressionType.SNAPPY, 102, 5, -1, (short) -1, -1, false, std.subList(2, 5)));
        // A batch from a topic with message.timestamp.type=LogAppendTime, as a broker hands it out.
        Batch lat = v2(CompressionType.NONE, 200, 5, -1, (short) -1, -1, false, standardRecords(200));
        add("records_v2_log_append_time", new Batch(lat.magic(), lat.codec(), lat.baseOffset(), lat.leaderEpoch(),
                lat.producerId(), lat.producerEpoch(), lat.baseSequence(), false, null, T0 + 60_000, lat.records()));
        for (byte magic : new byte[] {0, 1}) {
            // lz4 with magic 0 has the pre-KIP-57 frame header checksum.
            for (CompressionType c : new CompressionType[] {CompressionType.NONE, CompressionType.GZIP,
                    CompressionType.SNAPPY, CompressionType.LZ4}) {
                List<Rec> recs = legacyRecords(magic, 50);
                String name = "records_v" + magic + "_" + c.name;
                if (c == CompressionType.NONE) {
                    // An uncompressed legacy message set: every message is its own "batch".
                    List<Batch> each = new ArrayList<>();
                    for (Rec r : recs) each.add(legacy(magic, c, r.offset(), List.of(r)));
                    add(name, each.toArray(new Batch[0]));
                } else {
                    add(name, legacy(magic, c, 50, recs));
                }
            }
        }
    }

    byte[] bytes(String vector) {
        byte[] b = bytes.get(vector);
        if (b == null) throw new IllegalArgumentException("no batch vector " + vector);
        return b;
    }

    private void add(String name, Batch... batches) {
        vectors.put(name, List.of(batches));
        ByteBuffer all = ByteBuffer.allocate(1 << 16);
        for (Batch b : batches) all.put(write(b).buffer());
        all.flip();
        byte[] out = new byte[all.remaining()];
        all.get(out);
        bytes.put(name, out);
    }

    // ---- the values --------------------------------------------------------------

    static byte[] utf8(String s) {
        return s == null ? null : Messages.utf8(s);
    }

    static Header h(String key, String value) {
        return new RecordHeader(key, utf8(value));
    }

    /** Five records: keys, a null key, a tombstone, empty key/value, headers with a null value. */
    static List<Rec> standardRecords(long base) {
        String big = "{\"id\":5,\"event\":\"purchase\",\"items\":[" + "{\"sku\":\"A-1\",\"qty\":1},".repeat(12)
                + "{\"sku\":\"B-2\",\"qty\":3}],\"total\":\"129.90\",\"currency\":\"EUR\"}";
        return List.of(
                new Rec(base, T0, utf8("user-1"), utf8("{\"id\":1,\"event\":\"signup\",\"plan\":\"free\"}"),
                        new Header[] {h("trace-id", "4bf92f3577b34da6"), h("source", "web")}),
                new Rec(base + 1, T0 + 5, null, utf8("{\"id\":2,\"event\":\"click\",\"path\":\"/pricing\"}"),
                        new Header[0]),
                new Rec(base + 2, T0 + 9, utf8("user-3"), null,
                        new Header[] {h("deleted-by", null)}),
                new Rec(base + 3, T0 + 9, new byte[0], new byte[0],
                        new Header[] {h("", ""), h("région", "été")}),
                new Rec(base + 4, T0 + 120, utf8("user-5"), utf8(big),
                        new Header[] {h("content-type", "application/json"), h("trace-id", "00f067aa0ba902b7")}));
    }

    /** Legacy messages carry no headers; magic 0 carries no timestamp either. */
    static List<Rec> legacyRecords(byte magic, long base) {
        long ts = magic == 0 ? RecordBatch.NO_TIMESTAMP : T0;
        long step = magic == 0 ? 0 : 1;
        return List.of(
                new Rec(base, ts, utf8("user-1"), utf8("{\"id\":1,\"event\":\"signup\"}"), new Header[0]),
                new Rec(base + 1, ts + step * 7, null, utf8("{\"id\":2,\"event\":\"click\"}"), new Header[0]),
                new Rec(base + 2, ts + step * 30, utf8("user-3"), null, new Header[0]));
    }

    static Batch v2(CompressionType codec, long base, int leaderEpoch, long pid, short epoch, int seq,
                    boolean txn, List<Rec> records) {
        return new Batch(RecordBatch.MAGIC_VALUE_V2, codec, base, leaderEpoch, pid, epoch, seq, txn, null,
                RecordBatch.NO_TIMESTAMP, records);
    }

    static Batch legacy(byte magic, CompressionType codec, long base, List<Rec> records) {
        return new Batch(magic, codec, base, RecordBatch.NO_PARTITION_LEADER_EPOCH, RecordBatch.NO_PRODUCER_ID,
                RecordBatch.NO_PRODUCER_EPOCH, RecordBatch.NO_SEQUENCE, false, null, RecordBatch.NO_TIMESTAMP, records);
    }

    static Batch control(long offset, ControlRecordType type) {
        EndTransactionMarker marker = new EndTransactionMarker(type, 9);
        byte[] key = {0, 0, 0, (byte) type.type()};
        ByteBuffer v = marker.serializeValue();
        byte[] value = new byte[v.remaining()];
        v.get(value);
        Rec rec = new Rec(offset, T0 + 1000, key, value, new Header[0]);
        return new Batch(RecordBatch.MAGIC_VALUE_V2, CompressionType.NONE, offset, 5, 4001, (short) 2, -1, true,
                marker, RecordBatch.NO_TIMESTAMP, List.of(rec));
    }

    static MemoryRecords write(Batch b) {
        if (b.control()) {
            return MemoryRecords.withEndTransactionMarker(b.baseOffset(), b.records().get(0).timestamp(),
                    b.leaderEpoch(), b.producerId(), b.producerEpoch(), b.marker());
        }
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        TimestampType tsType = b.magic() == 0 ? TimestampType.CREATE_TIME : b.timestampType();
        MemoryRecordsBuilder builder = MemoryRecords.builder(buf, b.magic(), Compression.of(b.codec()).build(),
                tsType, b.baseOffset(), b.logAppendTime(), b.producerId(),
                b.producerEpoch(), b.baseSequence(), b.transactional(), b.leaderEpoch());
        for (Rec r : b.records()) {
            long ts = b.magic() == 0 ? T0 : r.timestamp();
            builder.appendWithOffset(r.offset(), ts, r.key(), r.value(), r.headers());
        }
        return builder.build();
    }

    // ---- checking ----------------------------------------------------------------

    /** Checks that `data` holds exactly the expected batches; returns null or what differs. */
    static String check(List<Batch> expected, byte[] data) {
        MemoryRecords records = MemoryRecords.readableRecords(ByteBuffer.wrap(data));
        Iterator<? extends RecordBatch> it = records.batches().iterator();
        int i = 0;
        for (Batch want : expected) {
            if (!it.hasNext()) return "only " + i + " batches, want " + expected.size();
            RecordBatch got = it.next();
            String where = "batch " + i + ": ";
            try {
                got.ensureValid();
            } catch (RuntimeException e) {
                return where + "invalid: " + e.getMessage();
            }
            String diff = checkBatch(want, got);
            if (diff != null) return where + diff;
            i++;
        }
        if (it.hasNext()) return "more than " + expected.size() + " batches";
        return null;
    }

    private static String checkBatch(Batch want, RecordBatch got) {
        TimestampType tsType = want.timestampType();
        long maxTs = RecordBatch.NO_TIMESTAMP;
        for (Rec r : want.records()) maxTs = Math.max(maxTs, want.readTimestamp(r));
        String d = null;
        d = diff(d, "magic", want.magic(), got.magic());
        d = diff(d, "compression", want.codec(), got.compressionType());
        d = diff(d, "timestamp type", tsType, got.timestampType());
        d = diff(d, "max timestamp", maxTs, got.maxTimestamp());
        d = diff(d, "last offset", want.records().get(want.records().size() - 1).offset(), got.lastOffset());
        if (want.magic() >= 2) {
            d = diff(d, "base offset", want.baseOffset(), got.baseOffset());
            d = diff(d, "partition leader epoch", want.leaderEpoch(), got.partitionLeaderEpoch());
            d = diff(d, "producer id", want.producerId(), got.producerId());
            d = diff(d, "producer epoch", want.producerEpoch(), got.producerEpoch());
            d = diff(d, "base sequence", want.baseSequence(), got.baseSequence());
            d = diff(d, "transactional", want.transactional(), got.isTransactional());
            d = diff(d, "control", want.control(), got.isControlBatch());
            d = diff(d, "record count", want.records().size(), got.countOrNull());
        }
        if (d != null) return d;
        Iterator<Record> recs = got.iterator();
        int j = 0;
        for (Rec w : want.records()) {
            if (!recs.hasNext()) return "only " + j + " records";
            Record r = recs.next();
            String where = "record " + j + ": ";
            r.ensureValid();
            d = diff(d, "offset", w.offset(), r.offset());
            d = diff(d, "timestamp", want.readTimestamp(w), r.timestamp());
            d = diff(d, "key", hex(w.key()), hex(r.key()));
            d = diff(d, "value", hex(w.value()), hex(r.value()));
            d = diff(d, "headers", headers(w.headers()), headers(r.headers()));
            if (d != null) return where + d;
            j++;
        }
        if (recs.hasNext()) return "more than " + want.records().size() + " records";
        return null;
    }

    private static String diff(String sofar, String what, Object want, Object got) {
        if (sofar != null || java.util.Objects.equals(want, got)) return sofar;
        return what + " is " + got + ", want " + want;
    }

    // ---- text form for records.txt -----------------------------------------------

    static String hex(byte[] b) {
        return b == null ? "null" : b.length == 0 ? "-" : HEX.formatHex(b);
    }

    static String hex(ByteBuffer b) {
        if (b == null) return "null";
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return hex(a);
    }

    static String headers(Header[] hs) {
        if (hs.length == 0) return "none";
        List<String> parts = new ArrayList<>();
        for (Header h : hs) parts.add(hex(utf8(h.key())) + ":" + hex(h.value()));
        return String.join(",", parts);
    }

    /** records.txt: one `batch` line per batch, one `record` line per record under it. */
    String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append("# Expected contents of the record batch vectors. Written by regenerate.sh; do not edit.\n");
        sb.append("# Byte strings are lowercase hex, `-` for empty, `null` for null. Headers: keyhex:valuehex,...\n");
        for (Map.Entry<String, List<Batch>> e : vectors.entrySet()) {
            for (Batch b : e.getValue()) {
                Rec last = b.records().get(b.records().size() - 1);
                sb.append("batch ").append(e.getKey())
                        .append(" magic=").append(b.magic())
                        .append(" codec=").append(b.codec().name)
                        .append(" base_offset=").append(b.magic() >= 2 ? b.baseOffset() : b.records().get(0).offset())
                        .append(" last_offset=").append(last.offset())
                        .append(" partition_leader_epoch=").append(b.leaderEpoch())
                        .append(" producer_id=").append(b.producerId())
                        .append(" producer_epoch=").append(b.producerEpoch())
                        .append(" base_sequence=").append(b.baseSequence())
                        .append(" transactional=").append(b.transactional())
                        .append(" control=").append(b.control())
                        .append(" timestamp_type=").append(b.timestampType() == TimestampType.LOG_APPEND_TIME
                                ? "log_append" : b.magic() == 0 ? "none" : "create")
                        .append(" records=").append(b.records().size())
                        .append('\n');
                for (Rec r : b.records()) {
                    sb.append("record offset=").append(r.offset())
                            .append(" timestamp=").append(b.readTimestamp(r))
                            .append(" create_timestamp=").append(r.timestamp())
                            .append(" key=").append(hex(r.key()))
                            .append(" value=").append(hex(r.value()))
                            .append(" headers=").append(headers(r.headers()))
                            .append('\n');
                }
            }
        }
        return sb.toString();
    }
}
