package rill.golden;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.MessageUtil;
import org.apache.kafka.common.protocol.Readable;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.requests.ResponseHeader;

/**
 * Golden vectors from Apache Kafka's own Java code.
 *
 * <pre>
 *   generate DIR   write every vector to DIR/NAME.bin, plus DIR/manifest.txt and DIR/records.txt
 *   verify DIR     decode every DIR/NAME.bin (written by rill) with the Java classes and check it
 *                  equals the Java value of the same name; prints OK/FAIL per file, exits 1 on any FAIL
 * </pre>
 */
public final class Main {
    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !(args[0].equals("generate") || args[0].equals("verify"))) {
            System.err.println("usage: Main generate|verify DIR");
            System.exit(2);
        }
        Batches batches = new Batches();
        List<Messages.Vector> messages = Messages.all(batches);
        Path dir = Path.of(args[1]);
        if (args[0].equals("generate")) {
            generate(dir, messages, batches);
            // Java must read its own vectors back to the values it wrote.
            System.exit(verify(dir, messages, batches, false) ? 0 : 1);
        } else {
            System.exit(verify(dir, messages, batches, true) ? 0 : 1);
        }
    }

    static void generate(Path dir, List<Messages.Vector> messages, Batches batches) throws IOException {
        Files.createDirectories(dir);
        StringBuilder manifest = new StringBuilder();
        manifest.append("# Golden vectors written by Apache Kafka's Java code (kafka-clients 4.3.1).\n");
        manifest.append("# Regenerate with crates/rill-protocol/golden/regenerate.sh; do not edit.\n");
        manifest.append("# name kind api_key version file   (version is the magic byte for records)\n");
        for (Messages.Vector v : messages) {
            Files.write(dir.resolve(v.name() + ".bin"), encode(v));
            manifest.append(String.format("%s %s %d %d %s.bin%n", v.name(), v.kind(), v.apiKey(), v.version(), v.name()));
        }
        for (Map.Entry<String, List<Batches.Batch>> e : batches.vectors.entrySet()) {
            Files.write(dir.resolve(e.getKey() + ".bin"), batches.bytes(e.getKey()));
            manifest.append(String.format("%s records -1 %d %s.bin%n", e.getKey(), e.getValue().get(0).magic(), e.getKey()));
        }
        Files.writeString(dir.resolve("manifest.txt"), manifest.toString(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("records.txt"), batches.describe(), StandardCharsets.UTF_8);
    }

    static byte[] serialize(Message message, short version) {
        ByteBuffer buf = MessageUtil.toByteBufferAccessor(message, version).buffer();
        byte[] out = new byte[buf.remaining()];
        buf.get(out);
        return out;
    }

    /** A body or header alone, or a whole frame: INT32 size, header, body. */
    static byte[] encode(Messages.Vector v) {
        ApiKeys api = v.apiKey() >= 0 ? ApiKeys.forId(v.apiKey()) : null;
        byte[] header;
        switch (v.kind()) {
            case "request_frame" -> header = serialize(Messages.frameRequestHeader(v), api.requestHeaderVersion(v.version()));
            case "response_frame" -> header = serialize(Messages.frameResponseHeader(), api.responseHeaderVersion(v.version()));
            default -> {
                return serialize(v.message(), v.version());
            }
        }
        byte[] body = serialize(v.message(), v.version());
        return ByteBuffer.allocate(4 + header.length + body.length)
                .putInt(header.length + body.length).put(header).put(body).array();
    }

    /** Checks every NAME.bin in dir against the value named NAME. */
    static boolean verify(Path dir, List<Messages.Vector> messages, Batches batches, boolean print) throws IOException {
        Map<String, Messages.Vector> byName = new TreeMap<>();
        for (Messages.Vector v : messages) byName.put(v.name(), v);
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().endsWith(".bin")).sorted().forEach(files::add);
        }
        int ok = 0;
        int failed = 0;
        for (Path file : files) {
            String name = file.getFileName().toString().replaceFirst("\\.bin$", "");
            byte[] data = Files.readAllBytes(file);
            String why;
            try {
                if (byName.containsKey(name)) {
                    why = checkMessage(byName.get(name), data);
                } else if (batches.vectors.containsKey(name)) {
                    why = Batches.check(batches.vectors.get(name), data);
                } else {
                    why = "no Java value of that name";
                }
            } catch (RuntimeException e) {
                why = "Java could not decode it: " + e;
            }
            if (why == null) {
                ok++;
                if (print) System.out.println("OK " + name);
            } else {
                failed++;
                System.out.println("FAIL " + name + ": " + why);
            }
        }
        System.out.println("SUMMARY ok=" + ok + " failed=" + failed);
        return failed == 0 && ok > 0;
    }

    static String checkMessage(Messages.Vector v, byte[] data) {
        ByteBuffer buf = ByteBuffer.wrap(data);
        boolean frame = v.kind().endsWith("_frame");
        if (frame) {
            int size = buf.getInt();
            if (size != buf.remaining()) return "size prefix " + size + " but " + buf.remaining() + " bytes follow";
        }
        if (v.kind().equals("request_frame")) {
            // As a broker reads it: the header version follows from the API key and version.
            RequestHeader header = RequestHeader.parse(buf);
            if (!header.data().equals(Messages.frameRequestHeader(v))) return "request header decoded to " + header.data();
        } else if (v.kind().equals("response_frame")) {
            short headerVersion = ApiKeys.forId(v.apiKey()).responseHeaderVersion(v.version());
            ResponseHeader header = ResponseHeader.parse(buf, headerVersion);
            if (!header.data().equals(Messages.frameResponseHeader())) return "response header decoded to " + header.data();
        }
        ByteBufferAccessor in = new ByteBufferAccessor(buf);
        Message got;
        try {
            got = v.message().getClass().getConstructor(Readable.class, short.class).newInstance(in, v.version());
        } catch (ReflectiveOperationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            return "Java could not decode it: " + cause;
        }
        if (in.remaining() != 0) return in.remaining() + " bytes left over after the message";
        if (!got.equals(v.message())) return "decoded to " + got + "\n  want " + v.message();
        return null;
    }
}
