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
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
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
        Properties props = load(args[1]);
        int expected = Integer.parseInt(args[2]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[3]);
        Throwable last = null;
        int seen = 0;
        try (Admin admin = Admin.create(adminProps(props, 5_000))) {
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
        }
        System.out.println("TIMEOUT\t" + seen + "\t" + (last == null ? "" : describe(last)));
        return 1;
    }

    private static int createTopic(String[] args) throws Exception {
        Properties props = load(args[1]);
        NewTopic topic = new NewTopic(args[2], Integer.parseInt(args[3]), Short.parseShort(args[4]));
        try (Admin admin = Admin.create(adminProps(props, 30_000))) {
            admin.createTopics(Collections.singleton(topic)).all().get(30, TimeUnit.SECONDS);
            // Wait until every partition has a leader, so the caller can produce at once.
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                try {
                    TopicDescription description = admin.describeTopics(Collections.singleton(args[2]))
                        .allTopicNames().get(5, TimeUnit.SECONDS).get(args[2]);
                    boolean ready = description.partitions().size() == topic.numPartitions();
                    for (TopicPartitionInfo partition : description.partitions()) {
                        ready &= partition.leader() != null && partition.leader().id() >= 0;
                    }
                    if (ready) {
                        System.out.println("CREATED\t" + args[2]);
                        return 0;
                    }
                } catch (Exception notYetKnown) {
                    // Metadata propagation lags topic creation; keep polling until the deadline.
                }
                Thread.sleep(100);
            }
        }
        System.out.println("TIMEOUT\t" + args[2]);
        return 1;
    }

    private static int describeTopic(String[] args) throws Exception {
        Properties props = load(args[1]);
        try (Admin admin = Admin.create(adminProps(props, 15_000))) {
            Map<String, TopicDescription> topics = admin.describeTopics(Collections.singleton(args[2]))
                .allTopicNames().get(15, TimeUnit.SECONDS);
            for (TopicPartitionInfo partition : topics.get(args[2]).partitions()) {
                Node leader = partition.leader();
                System.out.println("PARTITION\t" + partition.partition()
                    + "\t" + (leader == null || leader.isEmpty() ? -1 : leader.id())
                    + "\t" + ids(partition.replicas())
                    + "\t" + ids(partition.isr()));
            }
        }
        return 0;
    }

    private static int produce(String[] args) throws Exception {
        Properties props = adminProps(load(args[1]), 10_000);
        props.remove(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        props.put("acks", "all");
        props.put("retries", "0");
        props.put("enable.idempotence", "false");
        props.put("delivery.timeout.ms", "20000");
        props.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        props.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        try (org.apache.kafka.clients.producer.KafkaProducer<String, String> producer =
                 new org.apache.kafka.clients.producer.KafkaProducer<>(props)) {
            org.apache.kafka.clients.producer.RecordMetadata metadata = producer
                .send(new org.apache.kafka.clients.producer.ProducerRecord<>(args[2], args[3]))
                .get(30, TimeUnit.SECONDS);
            System.out.println("PRODUCED\t" + metadata.partition() + "\t" + metadata.offset());
        } catch (Exception error) {
            System.out.println("FAIL\t" + describe(error));
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
