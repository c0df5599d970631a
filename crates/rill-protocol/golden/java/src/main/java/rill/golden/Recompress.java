package rill.golden;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.record.internal.CompressionType;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.MemoryRecordsBuilder;
import org.apache.kafka.common.record.internal.Record;
import org.apache.kafka.common.record.internal.RecordBatch;

/**
 * Writes the records of a file of magic-2 batches again, one batch for each, through
 * Java's MemoryRecordsBuilder with the given codec at its default level: the bytes the
 * Java producer sends for the same records (lz4 through lz4-java, zstd through zstd-jni).
 * The benchmarks decode these, as a consumer mostly reads what the Java client wrote.
 *
 * <pre>
 *   Recompress IN OUT CODEC     CODEC: gzip, snappy, lz4 or zstd
 * </pre>
 */
public final class Recompress {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Recompress IN OUT gzip|snappy|lz4|zstd");
            System.exit(2);
        }
        CompressionType codec = CompressionType.forName(args[2]);
        MemoryRecords in = MemoryRecords.readableRecords(ByteBuffer.wrap(Files.readAllBytes(Path.of(args[0]))));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (RecordBatch b : in.batches()) {
            if (b.magic() != RecordBatch.MAGIC_VALUE_V2 || b.isControlBatch()) {
                throw new IllegalArgumentException("only magic-2 data batches: " + b);
            }
            MemoryRecordsBuilder builder = MemoryRecords.builder(ByteBuffer.allocate(b.sizeInBytes()), RecordBatch.MAGIC_VALUE_V2,
                    Compression.of(codec).build(), TimestampType.CREATE_TIME, b.baseOffset(), RecordBatch.NO_TIMESTAMP,
                    b.producerId(), b.producerEpoch(), b.baseSequence(), b.isTransactional(), b.partitionLeaderEpoch());
            for (Record r : b) {
                builder.appendWithOffset(r.offset(), r.timestamp(), r.key(), r.value(), r.headers());
            }
            ByteBuffer written = builder.build().buffer();
            out.write(written.array(), written.arrayOffset() + written.position(), written.remaining());
        }
        Files.write(Path.of(args[1]), out.toByteArray());
    }
}
