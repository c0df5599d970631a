// Runs Kafka's own consumer assignors (range, roundrobin, cooperative-sticky)
// on group states read from stdin, so rill's assignors can be compared with
// them input for input. Launched as a single source file
// (`java -cp 'libs/*' RunAssignors.java`): no build step.
//
// Input, one item per line:
//   case NAME STRATEGY
//   topic NAME PARTITIONS
//   member MEMBER_ID INSTANCE_ID|- GENERATION TOPIC,TOPIC OWNED_TOPIC:PARTITION,...|-
//   end
// Output, per case:
//   case NAME
//   member MEMBER_ID TOPIC:PARTITION,...|-
//   end

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class RunAssignors {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String name = null;
        String strategy = null;
        Map<String, Integer> topics = new TreeMap<>();
        // The coordinator hands the leader its members in no particular order; Java's
        // ConsumerCoordinator collects them in a HashMap, as here.
        Map<String, Subscription> members = new HashMap<>();
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split(" ");
            switch (w[0]) {
                case "case":
                    name = w[1];
                    strategy = w[2];
                    topics.clear();
                    members.clear();
                    break;
                case "topic":
                    topics.put(w[1], Integer.parseInt(w[2]));
                    break;
                case "member": {
                    List<String> subscribed = Arrays.asList(w[4].split(","));
                    List<TopicPartition> owned = new ArrayList<>();
                    if (!w[5].equals("-")) {
                        for (String tp : w[5].split(",")) {
                            int colon = tp.lastIndexOf(':');
                            owned.add(new TopicPartition(tp.substring(0, colon), Integer.parseInt(tp.substring(colon + 1))));
                        }
                    }
                    Subscription s = new Subscription(subscribed, null, owned, Integer.parseInt(w[3]), Optional.empty());
                    s.setGroupInstanceId(w[2].equals("-") ? Optional.empty() : Optional.of(w[2]));
                    members.put(w[1], s);
                    break;
                }
                case "end":
                    run(name, assignor(strategy), topics, members);
                    break;
                default:
                    throw new IllegalArgumentException("unknown line: " + line);
            }
        }
    }

    static ConsumerPartitionAssignor assignor(String strategy) {
        switch (strategy) {
            case "range": return new RangeAssignor();
            case "roundrobin": return new RoundRobinAssignor();
            case "cooperative-sticky": return new CooperativeStickyAssignor();
            default: throw new IllegalArgumentException("unknown strategy " + strategy);
        }
    }

    static void run(String name, ConsumerPartitionAssignor assignor, Map<String, Integer> topics, Map<String, Subscription> members) {
        Node node = new Node(0, "localhost", 9092);
        List<PartitionInfo> partitions = new ArrayList<>();
        for (Map.Entry<String, Integer> t : topics.entrySet()) {
            for (int p = 0; p < t.getValue(); p++) {
                partitions.add(new PartitionInfo(t.getKey(), p, node, new Node[] {node}, new Node[] {node}));
            }
        }
        Cluster cluster = new Cluster("rill", Collections.singletonList(node), partitions, new HashSet<>(), new HashSet<>());
        Map<String, ConsumerPartitionAssignor.Assignment> result =
            assignor.assign(cluster, new GroupSubscription(members)).groupAssignment();
        StringBuilder out = new StringBuilder("case " + name + "\n");
        for (String member : new TreeMap<>(result).keySet()) {
            List<String> tps = new ArrayList<>();
            List<TopicPartition> assigned = new ArrayList<>(result.get(member).partitions());
            assigned.sort((a, b) -> a.topic().equals(b.topic()) ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
            for (TopicPartition tp : assigned) {
                tps.add(tp.topic() + ":" + tp.partition());
            }
            out.append("member ").append(member).append(' ').append(tps.isEmpty() ? "-" : String.join(",", tps)).append('\n');
        }
        out.append("end");
        System.out.println(out);
    }
}
