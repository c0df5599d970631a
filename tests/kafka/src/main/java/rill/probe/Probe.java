package rill.probe;

import java.io.FileInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeTopicsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * Connection and admin probe for rill's end-to-end harness.
 *
 * Starting one JVM per check costs seconds on a 2-core CI machine, so this
 * program takes many client configurations at once and checks them in
 * parallel inside one JVM. Output is one tab-separated line per case on
 * stdout, read by tests/src/interop/java.rs:
 *
 *   RESULT  name  OK    node-count
 *   RESULT  name  FAIL  outermost-exception-class  root-exception-class  message
 *
 * Usage:
 *   Probe check CASE.properties...        (probe.name in each file names the case)
 *   Probe wait-brokers CLIENT.properties COUNT TIMEOUT_MS
 *   Probe create-topic CLIENT.properties TOPIC PARTITIONS REPLICATION_FACTOR
 *   Probe describe-topic CLIENT.properties TOPIC
 *   Probe produce CLIENT.properties TOPIC VALUE   (acks=all, no retries: errors surface as they are)
 *   Probe serve CLIENT.properties                 (the commands above from stdin, one JVM; see serve())
 */
public final class Probe {
    private static final int CHECK_TIMEOUT_MS = 20_000;

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            usage();
        }
        int status;
        switch (args[0]) {
            case "check": status = check(args); break;
            case "wait-brokers": status = waitBrokers(args); break;
            case "create-topic": status = createTopic(args); break;
            case "describe-topic": status = describeTopic(args); break;
            case "produce": status = produce(args); break;
            case "serve": status = serve(args); break;
            default: usage(); status = 2;
        }
        System.out.flush();
        // Admin clients that failed to authenticate may leave non-daemon threads behind.
        System.exit(status);
    }

    private static void usage() {
        System.err.println("usage: Probe check CASE.properties... | wait-brokers PROPS COUNT TIMEOUT_MS"
            + " | create-topic PROPS TOPIC PARTITIONS RF | describe-topic PROPS TOPIC");
        System.exit(2);
    }

    private static Properties load(String path) throws Exception {
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(path)) {
            props.load(in);
        }
        return props;
    }

    private static Properties adminProps(Properties props, int timeoutMs) {
        Properties admin = new Properties();
        for (String key : props.stringPropertyNames()) {
            if (!key.startsWith("probe.")) {
                admin.put(key, props.getProperty(key));
            }
        }
        admin.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Integer.toString(timeoutMs));
        admin.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Integer.toString(timeoutMs));
        // A refused connection should surface quickly instead of being retried for the whole timeout.
        admin.putIfAbsent("reconnect.backoff.max.ms", "1000");
        return admin;
    }

    private static int check(String[] args) throws Exception {
        List<String> files = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            files.add(args[i]);
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, files.size()));
        List<Future<String>> results = new ArrayList<>();
        for (String file : files) {
            results.add(pool.submit(() -> checkOne(file)));
        }
        for (Future<String> result : results) {
            System.out.println(result.get());
        }
        pool.shutdownNow();
        return 0;
    }

    private static String checkOne(String file) {
        String name = file;
        try {
            Properties props = load(file);
            name = props.getProperty("probe.name", file);
            try (Admin admin = Admin.create(adminProps(props, CHECK_TIMEOUT_MS))) {
                Collection<Node> nodes = admin.describeCluster().nodes().get(CHECK_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                return "RESULT\t" + name + "\tOK\t" + nodes.size();
            }
        } catch (Throwable error) {
            return "RESULT\t" + name + "\tFAIL\t" + describe(error);
        }
    }

    /** Outermost class (after unwrapping ExecutionException), root class, and the chain's messages. */
    private static String describe(Throwable error) {
        Throwable outer = error;
        if (outer instanceof java.util.concurrent.ExecutionException && outer.getCause() != null) {
            outer = outer.getCause();
        }
        Throwable root = outer;
        StringBuilder messages = new StringBuilder();
        for (Throwable t = outer; t != null; t = t.getCause()) {
            root = t;
            if (messages.length() > 0) {
                messages.append(" <- ");
            }
            // Some Kafka exceptions embed whole stack traces in their message: keep the first line.
            String message = String.valueOf(t.getMessage()).split("\\R", 2)[0];
            if (message.length() > 400) {
                message = message.substring(0, 400) + "...";
            }
            messages.append(t.getClass().getSimpleName()).append(": ").append(message);
            if (t.getCause() == t) {
                break;
            }
        }
        String text = messages.toString().replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
        return outer.getClass().getName() + "\t" + root.getClass().getName() + "\t" + text;
    }

    private static int waitBrokers(String[] args) throws Exception {
        try (Admin admin = Admin.create(adminProps(load(args[1]), 5_000))) {
            return waitBrokers(admin, Integer.parseInt(args[2]), Long.parseLong(args[3]));
        }
    }

    private static int waitBrokers(Admin admin, int expected, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        Throwable last = null;
        int seen = 0;
        while (System.currentTimeMillis() < deadline) {
            try {
                seen = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
                if (seen >= expected) {
                    System.out.println("BROKERS\t" + seen);
                    return 0;
                }
            } catch (Exception error) {
                last = error;
            }
            Thread.sleep(200);
        }
        System.out.println("TIMEOUT\t" + seen + "\t" + (last == null ? "" : describe(last)));
        return 1;
    }

    private static int createTopic(String[] args) throws Exception {
        try (Admin admin = Admin.create(adminProps(load(args[1]), 30_000))) {
            return createTopic(admin, args[2], Integer.parseInt(args[3]), Short.parseShort(args[4]));
        }
    }

    private static int createTopic(Admin admin, String name, int partitions, short replicationFactor) throws Exception {
        NewTopic topic = new NewTopic(name, partitions, replicationFactor);
        admin.createTopics(Collections.singleton(topic)).all().get(30, TimeUnit.SECONDS);
        // Wait until every partition has a leader, so the caller can produce at once.
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            try {
                TopicDescription description = describeTopics(admin, name, 5).get(name);
                boolean ready = description.partitions().size() == partitions;
                for (TopicPartitionInfo partition : description.partitions()) {
                    ready &= partition.leader() != null && partition.leader().id() >= 0;
                }
                if (ready) {
                    System.out.println("CREATED\t" + name);
                    return 0;
                }
            } catch (Exception notYetKnown) {
                // Metadata propagation lags topic creation; keep polling until the deadline.
            }
            Thread.sleep(50);
        }
        System.out.println("TIMEOUT\t" + name);
        return 1;
    }

    /**
     * DescribeTopicsResult.allTopicNames() exists from Kafka 3.1 and all() until 3.9; the probe is
     * built against every version of the matrix (2.8 to 4.x), so the method is looked up by name.
     */
    @SuppressWarnings("unchecked")
    private static Map<String, TopicDescription> describeTopics(Admin admin, String name, int timeoutSeconds) throws Exception {
        DescribeTopicsResult result = admin.describeTopics(Collections.singleton(name));
        java.lang.reflect.Method all;
        try {
            all = DescribeTopicsResult.class.getMethod("allTopicNames");
        } catch (NoSuchMethodException beforeKafka31) {
            all = DescribeTopicsResult.class.getMethod("all");
        }
        KafkaFuture<Map<String, TopicDescription>> future = (KafkaFuture<Map<String, TopicDescription>>) all.invoke(result);
        return future.get(timeoutSeconds, TimeUnit.SECONDS);
    }

    private static int describeTopic(String[] args) throws Exception {
        try (Admin admin = Admin.create(adminProps(load(args[1]), 15_000))) {
            return describeTopic(admin, args[2]);
        }
    }

    private static int describeTopic(Admin admin, String name) throws Exception {
        Map<String, TopicDescription> topics = describeTopics(admin, name, 15);
        for (TopicPartitionInfo partition : topics.get(name).partitions()) {
            Node leader = partition.leader();
            System.out.println("PARTITION\t" + partition.partition()
                + "\t" + (leader == null || leader.isEmpty() ? -1 : leader.id())
                + "\t" + ids(partition.replicas())
                + "\t" + ids(partition.isr()));
        }
        return 0;
    }

    private static org.apache.kafka.clients.producer.KafkaProducer<String, String> producer(Properties client) {
        Properties props = adminProps(client, 10_000);
        props.remove(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        props.put("acks", "all");
        props.put("retries", "0");
        props.put("enable.idempotence", "false");
        props.put("delivery.timeout.ms", "20000");
        props.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        props.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        return new org.apache.kafka.clients.producer.KafkaProducer<>(props);
    }

    private static int produce(String[] args) throws Exception {
        try (org.apache.kafka.clients.producer.KafkaProducer<String, String> producer = producer(load(args[1]))) {
            return produce(producer, args[2], args[3], null);
        }
    }

    private static int produce(
        org.apache.kafka.clients.producer.KafkaProducer<String, String> producer, String topic, String value, Integer partition
    ) {
        try {
            org.apache.kafka.clients.producer.RecordMetadata metadata = producer
                .send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, partition, null, value))
                .get(30, TimeUnit.SECONDS);
            System.out.println("PRODUCED\t" + metadata.partition() + "\t" + metadata.offset());
        } catch (Exception error) {
            System.out.println("FAIL\t" + describe(error));
        }
        return 0;
    }

    /**
     * Serves admin commands read from stdin, one tab-separated command per
     * line, with one admin client (and producer) kept open: polling topic
     * state this way costs milliseconds instead of a JVM start. Each answer
     * ends with a line "END".
     */
    private static int serve(String[] args) throws Exception {
        Properties client = load(args[1]);
        java.io.BufferedReader in = new java.io.BufferedReader(
            new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8));
        org.apache.kafka.clients.producer.KafkaProducer<String, String> producer = null;
        try (Admin admin = Admin.create(adminProps(client, 15_000))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] fields = line.split("\t", -1);
                try {
                    switch (fields[0]) {
                        case "create-topic":
                            createTopic(admin, fields[1], Integer.parseInt(fields[2]), Short.parseShort(fields[3]));
                            break;
                        case "describe-topic": describeTopic(admin, fields[1]); break;
                        case "wait-brokers": waitBrokers(admin, Integer.parseInt(fields[1]), Long.parseLong(fields[2])); break;
                        case "produce":
                            if (producer == null) {
                                producer = producer(client);
                            }
                            // An optional fourth field names the partition (else the default partitioner picks).
                            produce(producer, fields[1], fields[2], fields.length > 3 ? Integer.valueOf(fields[3]) : null);
                            break;
                        default: System.out.println("ERROR\tunknown command\t" + fields[0]);
                    }
                } catch (Exception error) {
                    System.out.println("ERROR\t" + describe(error));
                }
                System.out.println("END");
                System.out.flush();
            }
        } finally {
            if (producer != null) {
                producer.close();
            }
        }
        return 0;
    }

    private static String ids(List<Node> nodes) {
        StringBuilder text = new StringBuilder();
        for (Node node : nodes) {
            if (text.length() > 0) {
                text.append(',');
            }
            text.append(node.id());
        }
        return text.toString();
    }
}
