package rill.golden;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.*;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ApiMessage;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.MessageUtil;
import org.apache.kafka.common.protocol.types.RawTaggedField;
import org.apache.kafka.common.record.internal.MemoryRecords;

/**
 * The fixed message values behind the golden vectors. Every value is built for one
 * version only, so fields the version does not carry keep their defaults and the
 * value equals what Java reads back. tests/golden/values.rs mirrors this file.
 */
final class Messages {
    /** One message vector: a body (or header) serialized at one version. */
    record Vector(String name, String kind, int apiKey, short version, Message message) {}

    static final Uuid ORDERS_ID = new Uuid(0x1122334455667788L, 0x99aabbccddeeff00L);
    static final Uuid PAYMENTS_ID = new Uuid(0x0123456789abcdefL, 0x0fedcba987654321L);
    static final Uuid UNKNOWN_ID = new Uuid(0x7777777777777777L, 0x0000000000000001L);
    static final String HOST1 = "broker-1.rill.test";
    static final String HOST2 = "broker-2.rill.test";

    private final List<Vector> out = new ArrayList<>();
    private final Batches batches;

    private Messages(Batches batches) {
        this.batches = batches;
    }

    static List<Vector> all(Batches batches) {
        Messages m = new Messages(batches);
        m.build();
        return m.out;
    }

    private void add(String name, String kind, int apiKey, int version, Message message) {
        out.add(new Vector(name + "_v" + version, kind, apiKey, (short) version, message));
    }

    private void request(String name, int version, ApiMessage message) {
        add(name, "request", message.apiKey(), version, message);
    }

    private void response(String name, int version, ApiMessage message) {
        add(name, "response", message.apiKey(), version, message);
    }

    /** Every version from lo to hi: the versions both rill's schema and kafka-clients 4.3.1 support. */
    static int[] versions(int lo, int hi) {
        return java.util.stream.IntStream.rangeClosed(lo, hi).toArray();
    }

    @SafeVarargs
    static <T> List<T> list(T... xs) {
        return new ArrayList<>(Arrays.asList(xs));
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static RawTaggedField tagged(int tag, int... data) {
        byte[] b = new byte[data.length];
        for (int i = 0; i < data.length; i++) b[i] = (byte) data[i];
        return new RawTaggedField(tag, b);
    }

    private MemoryRecords records(String batchVector) {
        return MemoryRecords.readableRecords(java.nio.ByteBuffer.wrap(batches.bytes(batchVector)));
    }

    private void build() {
        headers();
        for (int v : versions(0, 4)) request("api_versions_request", v, apiVersionsRequest(v));
        for (int v : versions(0, 4)) response("api_versions_response", v, apiVersionsResponse(v));
        for (int v : versions(0, 12)) request("metadata_request", v, metadataRequest(v));
        add("metadata_request_all_topics", "request", 3, 1, new MetadataRequestData().setTopics(null));
        for (int v : versions(0, 12)) response("metadata_response", v, metadataResponse(v));
        for (int v : versions(3, 11)) request("produce_request", v, produceRequest(v));
        for (int v : versions(3, 11)) response("produce_response", v, produceResponse(v));
        for (int v : versions(4, 17)) request("fetch_request", v, fetchRequest(v));
        for (int v : versions(4, 17)) response("fetch_response", v, fetchResponse(v));
        for (int v : versions(1, 10)) request("list_offsets_request", v, listOffsetsRequest(v));
        for (int v : versions(1, 10)) response("list_offsets_response", v, listOffsetsResponse(v));
        for (int v : versions(2, 9)) request("offset_commit_request", v, offsetCommitRequest(v));
        for (int v : versions(2, 9)) response("offset_commit_response", v, offsetCommitResponse(v));
        for (int v : versions(1, 9)) request("offset_fetch_request", v, offsetFetchRequest(v));
        for (int v : versions(1, 9)) response("offset_fetch_response", v, offsetFetchResponse(v));
        for (int v : versions(0, 6)) request("find_coordinator_request", v, findCoordinatorRequest(v));
        for (int v : versions(0, 6)) response("find_coordinator_response", v, findCoordinatorResponse(v));
        for (int v : versions(0, 9)) request("join_group_request", v, joinGroupRequest(v));
        for (int v : versions(0, 9)) response("join_group_response", v, joinGroupResponse(v));
        for (int v : versions(0, 5)) request("sync_group_request", v, syncGroupRequest(v));
        for (int v : versions(0, 5)) response("sync_group_response", v, syncGroupResponse(v));
        for (int v : versions(0, 4)) request("heartbeat_request", v, heartbeatRequest(v));
        for (int v : versions(0, 4)) response("heartbeat_response", v, heartbeatResponse(v));
        for (int v : versions(0, 5)) request("leave_group_request", v, leaveGroupRequest(v));
        for (int v : versions(0, 5)) response("leave_group_response", v, leaveGroupResponse(v));
        for (int v : versions(0, 5)) request("init_producer_id_request", v, initProducerIdRequest(v));
        for (int v : versions(0, 5)) response("init_producer_id_response", v, initProducerIdResponse(v));
        for (int v : versions(2, 7)) request("create_topics_request", v, createTopicsRequest(v));
        for (int v : versions(2, 7)) response("create_topics_response", v, createTopicsResponse(v));
        for (int v : versions(0, 1)) request("sasl_handshake_request", v,
                new SaslHandshakeRequestData().setMechanism("SCRAM-SHA-256"));
        for (int v : versions(0, 1)) response("sasl_handshake_response", v, new SaslHandshakeResponseData()
                .setErrorCode((short) 0).setMechanisms(list("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")));
        for (int v : versions(0, 2)) request("sasl_authenticate_request", v,
                new SaslAuthenticateRequestData().setAuthBytes(utf8(SCRAM_CLIENT_FIRST)));
        for (int v : versions(0, 2)) response("sasl_authenticate_response", v, saslAuthenticateResponse(v));
        for (int v : versions(1, 4)) request("describe_configs_request", v, describeConfigsRequest(v));
        for (int v : versions(1, 4)) response("describe_configs_response", v, describeConfigsResponse(v));
        for (int v : versions(0, 1)) request("consumer_group_heartbeat_request", v, consumerGroupHeartbeatRequest(v));
        for (int v : versions(0, 1)) response("consumer_group_heartbeat_response", v, consumerGroupHeartbeatResponse(v));
        request("describe_topic_partitions_request", 0, describeTopicPartitionsRequest());
        response("describe_topic_partitions_response", 0, describeTopicPartitionsResponse());
        for (int v : versions(0, 3)) add("consumer_protocol_subscription", "consumer_protocol", -1, v, subscription(v));
        for (int v : versions(0, 3)) add("consumer_protocol_assignment", "consumer_protocol", -1, v, assignment(v));
        frames();
    }

    // ---- whole frames: size, header (version chosen by Java's ApiKeys), body --------

    private void frames() {
        requestFrame(0, apiVersionsRequest(0));
        requestFrame(3, apiVersionsRequest(3));
        responseFrame(0, apiVersionsResponse(0));
        responseFrame(3, apiVersionsResponse(3)); // header v0 although the body is flexible (KIP-511)
        requestFrame(1, metadataRequest(1));
        requestFrame(12, metadataRequest(12));
        responseFrame(1, metadataResponse(1));
        responseFrame(12, metadataResponse(12));
        requestFrame(3, produceRequest(3));
        requestFrame(9, produceRequest(9));
        responseFrame(9, produceResponse(9));
        requestFrame(4, fetchRequest(4));
        requestFrame(12, fetchRequest(12));
        responseFrame(4, fetchResponse(4));
        responseFrame(12, fetchResponse(12));
        requestFrame(4, findCoordinatorRequest(4));
        responseFrame(4, findCoordinatorResponse(4));
        requestFrame(9, joinGroupRequest(9));
        responseFrame(4, initProducerIdResponse(4));
        requestFrame(1, new SaslHandshakeRequestData().setMechanism("SCRAM-SHA-256"));
        requestFrame(2, new SaslAuthenticateRequestData().setAuthBytes(utf8(SCRAM_CLIENT_FIRST)));
        responseFrame(2, saslAuthenticateResponse(2));
        requestFrame(0, consumerGroupHeartbeatRequest(0));
        responseFrame(0, consumerGroupHeartbeatResponse(0));
        requestFrame(0, describeTopicPartitionsRequest());
        responseFrame(0, describeTopicPartitionsResponse());
    }

    static final int FRAME_CORRELATION_ID = 42;
    static final String FRAME_CLIENT_ID = "rill-golden";

    private static String frameName(ApiMessage body, String direction) {
        return "frame_" + ApiKeys.forId(body.apiKey()).name.replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase() + "_" + direction;
    }

    private void requestFrame(int version, ApiMessage body) {
        add(frameName(body, "request"), "request_frame", body.apiKey(), version, body);
    }

    private void responseFrame(int version, ApiMessage body) {
        add(frameName(body, "response"), "response_frame", body.apiKey(), version, body);
    }

    static RequestHeaderData frameRequestHeader(Vector v) {
        return new RequestHeaderData().setRequestApiKey((short) v.apiKey()).setRequestApiVersion(v.version())
                .setCorrelationId(FRAME_CORRELATION_ID).setClientId(FRAME_CLIENT_ID);
    }

    static ResponseHeaderData frameResponseHeader() {
        return new ResponseHeaderData().setCorrelationId(FRAME_CORRELATION_ID);
    }

    // ---- headers -------------------------------------------------------------------

    private void headers() {
        RequestHeaderData req = new RequestHeaderData().setRequestApiKey((short) 3).setRequestApiVersion((short) 12)
                .setCorrelationId(42).setClientId("rill-golden");
        add("request_header", "request_header", -1, 1, req);
        add("request_header_null_client_id", "request_header", -1, 1, req.duplicate().setClientId(null));
        RequestHeaderData req2 = req.duplicate().setCorrelationId(0x01020304);
        req2.unknownTaggedFields().add(tagged(5, 0xca, 0xfe));
        add("request_header", "request_header", -1, 2, req2);
        add("response_header", "response_header", -1, 0, new ResponseHeaderData().setCorrelationId(42));
        ResponseHeaderData resp1 = new ResponseHeaderData().setCorrelationId(-7);
        resp1.unknownTaggedFields().add(tagged(0, 0x01));
        add("response_header", "response_header", -1, 1, resp1);
    }

    // ---- ApiVersions ---------------------------------------------------------------

    static ApiVersionsRequestData apiVersionsRequest(int v) {
        ApiVersionsRequestData d = new ApiVersionsRequestData();
        if (v >= 3) d.setClientSoftwareName("rill").setClientSoftwareVersion("0.1.0");
        return d;
    }

    static ApiVersionsResponseData apiVersionsResponse(int v) {
        ApiVersionsResponseData d = new ApiVersionsResponseData().setErrorCode((short) 0);
        int[][] keys = {{0, 3, 11}, {1, 4, 17}, {3, 0, 12}, {18, 0, 4}, {75, 0, 0}};
        for (int[] k : keys) {
            d.apiKeys().add(new ApiVersionsResponseData.ApiVersion()
                    .setApiKey((short) k[0]).setMinVersion((short) k[1]).setMaxVersion((short) k[2]));
        }
        if (v >= 1) d.setThrottleTimeMs(7);
        if (v >= 3) {
            d.supportedFeatures().add(new ApiVersionsResponseData.SupportedFeatureKey()
                    .setName("metadata.version").setMinVersion((short) 1).setMaxVersion((short) 27));
            d.setFinalizedFeaturesEpoch(12345L);
            d.finalizedFeatures().add(new ApiVersionsResponseData.FinalizedFeatureKey()
                    .setName("metadata.version").setMaxVersionLevel((short) 27).setMinVersionLevel((short) 27));
            d.unknownTaggedFields().add(tagged(9, 0x68, 0x69));
        }
        return d;
    }

    // ---- Metadata ------------------------------------------------------------------

    static MetadataRequestData metadataRequest(int v) {
        MetadataRequestData d = new MetadataRequestData();
        if (v >= 12) {
            d.setTopics(list(
                    new MetadataRequestData.MetadataRequestTopic().setTopicId(ORDERS_ID).setName(null),
                    new MetadataRequestData.MetadataRequestTopic().setName("payments")));
        } else {
            d.setTopics(list(
                    new MetadataRequestData.MetadataRequestTopic().setName("orders"),
                    new MetadataRequestData.MetadataRequestTopic().setName("payments")));
        }
        if (v >= 4) d.setAllowAutoTopicCreation(false);
        if (v >= 8 && v <= 10) d.setIncludeClusterAuthorizedOperations(true);
        if (v >= 8) d.setIncludeTopicAuthorizedOperations(true);
        return d;
    }

    static MetadataResponseData metadataResponse(int v) {
        MetadataResponseData d = new MetadataResponseData();
        if (v >= 3) d.setThrottleTimeMs(10);
        d.brokers().add(new MetadataResponseData.MetadataResponseBroker()
                .setNodeId(1).setHost(HOST1).setPort(9092).setRack(v >= 1 ? "rack-a" : null));
        d.brokers().add(new MetadataResponseData.MetadataResponseBroker()
                .setNodeId(2).setHost(HOST2).setPort(9093).setRack(null));
        if (v >= 2) d.setClusterId("rill-cluster-0001");
        if (v >= 1) d.setControllerId(1);

        MetadataResponseData.MetadataResponseTopic orders = new MetadataResponseData.MetadataResponseTopic()
                .setErrorCode((short) 0).setName("orders").setIsInternal(false);
        orders.setPartitions(list(
                metadataPartition(v, 0, 1, 5, list(1, 2), list(1, 2), list()),
                metadataPartition(v, 1, 2, 6, list(2, 1), list(2), list(1))));
        MetadataResponseData.MetadataResponseTopic offsets = new MetadataResponseData.MetadataResponseTopic()
                .setErrorCode((short) 0).setName("__consumer_offsets").setIsInternal(v >= 1);
        offsets.setPartitions(list(metadataPartition(v, 0, 1, 0, list(1), list(1), list())));
        MetadataResponseData.MetadataResponseTopic missing = new MetadataResponseData.MetadataResponseTopic()
                .setErrorCode((short) 3).setName("missing");
        if (v >= 10) {
            orders.setTopicId(ORDERS_ID);
            offsets.setTopicId(PAYMENTS_ID);
        }
        if (v >= 8) {
            orders.setTopicAuthorizedOperations(0x0df8);
            offsets.setTopicAuthorizedOperations(0x0008);
        }
        d.topics().add(orders);
        d.topics().add(offsets);
        d.topics().add(missing);
        if (v >= 12) {
            // A topic looked up by an unknown id: the name is null.
            d.topics().add(new MetadataResponseData.MetadataResponseTopic()
                    .setErrorCode((short) 100).setName(null).setTopicId(UNKNOWN_ID));
        }
        if (v >= 8 && v <= 10) d.setClusterAuthorizedOperations(0x0ff8);
        if (v >= 9) d.unknownTaggedFields().add(tagged(7, 0x01, 0x02, 0x03));
        return d;
    }

    static MetadataResponseData.MetadataResponsePartition metadataPartition(
            int v, int index, int leader, int epoch, List<Integer> replicas, List<Integer> isr, List<Integer> offline) {
        MetadataResponseData.MetadataResponsePartition p = new MetadataResponseData.MetadataResponsePartition()
                .setErrorCode((short) 0).setPartitionIndex(index).setLeaderId(leader)
                .setReplicaNodes(replicas).setIsrNodes(isr);
        if (v >= 7) p.setLeaderEpoch(epoch);
        if (v >= 5) p.setOfflineReplicas(offline);
        return p;
    }

    // ---- Produce -------------------------------------------------------------------

    ProduceRequestData produceRequest(int v) {
        ProduceRequestData d = new ProduceRequestData().setAcks((short) -1).setTimeoutMs(30000);
        ProduceRequestData.TopicProduceData orders = new ProduceRequestData.TopicProduceData().setName("orders");
        if (v >= 11) {
            d.setTransactionalId("txn-1");
            orders.partitionData().add(new ProduceRequestData.PartitionProduceData()
                    .setIndex(0).setRecords(records("records_v2_transactional")));
        } else {
            orders.partitionData().add(new ProduceRequestData.PartitionProduceData()
                    .setIndex(0).setRecords(records(v >= 9 ? "records_v2_gzip" : "records_v2_none")));
            orders.partitionData().add(new ProduceRequestData.PartitionProduceData()
                    .setIndex(1).setRecords(records("records_v2_idempotent")));
        }
        d.topicData().add(orders);
        if (v >= 9) {
            ProduceRequestData.TopicProduceData payments = new ProduceRequestData.TopicProduceData().setName("payments");
            payments.partitionData().add(new ProduceRequestData.PartitionProduceData().setIndex(2).setRecords(null));
            d.topicData().add(payments);
        }
        return d;
    }

    static ProduceResponseData produceResponse(int v) {
        ProduceResponseData d = new ProduceResponseData();
        ProduceResponseData.TopicProduceResponse orders = new ProduceResponseData.TopicProduceResponse().setName("orders");
        ProduceResponseData.PartitionProduceResponse ok = new ProduceResponseData.PartitionProduceResponse()
                .setIndex(0).setErrorCode((short) 0).setBaseOffset(100);
        ProduceResponseData.PartitionProduceResponse notLeader = new ProduceResponseData.PartitionProduceResponse()
                .setIndex(1).setErrorCode((short) 6).setBaseOffset(-1);
        ProduceResponseData.PartitionProduceResponse invalid = new ProduceResponseData.PartitionProduceResponse()
                .setIndex(2).setErrorCode((short) 87).setBaseOffset(-1);
        if (v >= 2) ok.setLogAppendTimeMs(1700000000500L);
        if (v >= 5) ok.setLogStartOffset(0);
        if (v >= 8) {
            invalid.setRecordErrors(list(
                    new ProduceResponseData.BatchIndexAndErrorMessage().setBatchIndex(2).setBatchIndexErrorMessage("bad record"),
                    new ProduceResponseData.BatchIndexAndErrorMessage().setBatchIndex(4).setBatchIndexErrorMessage(null)));
            invalid.setErrorMessage("One or more records have been rejected");
        }
        if (v >= 10) notLeader.setCurrentLeader(new ProduceResponseData.LeaderIdAndEpoch().setLeaderId(2).setLeaderEpoch(7));
        orders.setPartitionResponses(list(ok, notLeader, invalid));
        d.responses().add(orders);
        if (v >= 1) d.setThrottleTimeMs(5);
        if (v >= 10) {
            d.nodeEndpoints().add(new ProduceResponseData.NodeEndpoint()
                    .setNodeId(2).setHost(HOST2).setPort(9093).setRack("rack-b"));
        }
        return d;
    }

    // ---- Fetch ---------------------------------------------------------------------

    static FetchRequestData fetchRequest(int v) {
        FetchRequestData d = new FetchRequestData().setMaxWaitMs(500).setMinBytes(1);
        if (v <= 14) d.setReplicaId(-1);
        if (v >= 15) d.setReplicaState(new FetchRequestData.ReplicaState().setReplicaId(3).setReplicaEpoch(9));
        if (v >= 3) d.setMaxBytes(52428800);
        if (v >= 4) d.setIsolationLevel((byte) 1);
        if (v >= 7) d.setSessionId(123).setSessionEpoch(4);
        if (v >= 12) d.setClusterId("rill-cluster-0001");
        FetchRequestData.FetchTopic orders = new FetchRequestData.FetchTopic();
        if (v >= 13) orders.setTopicId(ORDERS_ID); else orders.setTopic("orders");
        FetchRequestData.FetchPartition p0 = new FetchRequestData.FetchPartition()
                .setPartition(0).setFetchOffset(100).setPartitionMaxBytes(1048576);
        FetchRequestData.FetchPartition p1 = new FetchRequestData.FetchPartition()
                .setPartition(1).setFetchOffset(0).setPartitionMaxBytes(1048576);
        if (v >= 9) p0.setCurrentLeaderEpoch(5);
        if (v >= 12) p0.setLastFetchedEpoch(4);
        if (v >= 5) p1.setLogStartOffset(0);
        orders.setPartitions(list(p0, p1));
        d.setTopics(list(orders));
        if (v >= 7) {
            FetchRequestData.ForgottenTopic gone = new FetchRequestData.ForgottenTopic().setPartitions(list(0, 2));
            if (v >= 13) gone.setTopicId(PAYMENTS_ID); else gone.setTopic("payments");
            d.setForgottenTopicsData(list(gone));
        }
        if (v >= 11) d.setRackId("rack-a");
        return d;
    }

    FetchResponseData fetchResponse(int v) {
        FetchResponseData d = new FetchResponseData();
        if (v >= 1) d.setThrottleTimeMs(0);
        if (v >= 7) d.setErrorCode((short) 0).setSessionId(123);
        FetchResponseData.FetchableTopicResponse orders = new FetchResponseData.FetchableTopicResponse();
        if (v >= 13) orders.setTopicId(ORDERS_ID); else orders.setTopic("orders");
        FetchResponseData.PartitionData p0 = new FetchResponseData.PartitionData()
                .setPartitionIndex(0).setErrorCode((short) 0).setHighWatermark(110)
                .setRecords(records("records_v2_two_batches"));
        FetchResponseData.PartitionData p1 = new FetchResponseData.PartitionData()
                .setPartitionIndex(1).setErrorCode((short) 1).setHighWatermark(-1).setRecords(null);
        if (v >= 4) {
            p0.setLastStableOffset(105).setAbortedTransactions(list(
                    new FetchResponseData.AbortedTransaction().setProducerId(4001).setFirstOffset(101),
                    new FetchResponseData.AbortedTransaction().setProducerId(4002).setFirstOffset(103)));
            p1.setLastStableOffset(-1).setAbortedTransactions(null);
        }
        if (v >= 5) p0.setLogStartOffset(0);
        if (v >= 11) p0.setPreferredReadReplica(2);
        if (v >= 12) {
            p1.setDivergingEpoch(new FetchResponseData.EpochEndOffset().setEpoch(4).setEndOffset(90));
            p1.setCurrentLeader(new FetchResponseData.LeaderIdAndEpoch().setLeaderId(1).setLeaderEpoch(5));
            p0.unknownTaggedFields().add(tagged(12, 0x2a));
        }
        orders.setPartitions(list(p0, p1));
        d.setResponses(list(orders));
        if (v >= 16) {
            d.nodeEndpoints().add(new FetchResponseData.NodeEndpoint().setNodeId(1).setHost(HOST1).setPort(9092).setRack("rack-a"));
            d.nodeEndpoints().add(new FetchResponseData.NodeEndpoint().setNodeId(2).setHost(HOST2).setPort(9093).setRack(null));
        }
        return d;
    }

    // ---- ListOffsets ---------------------------------------------------------------

    static ListOffsetsRequestData listOffsetsRequest(int v) {
        ListOffsetsRequestData d = new ListOffsetsRequestData().setReplicaId(-1);
        if (v >= 2) d.setIsolationLevel((byte) 1);
        ListOffsetsRequestData.ListOffsetsPartition p0 = new ListOffsetsRequestData.ListOffsetsPartition()
                .setPartitionIndex(0).setTimestamp(-1);
        ListOffsetsRequestData.ListOffsetsPartition p1 = new ListOffsetsRequestData.ListOffsetsPartition()
                .setPartitionIndex(1).setTimestamp(-2);
        ListOffsetsRequestData.ListOffsetsPartition p2 = new ListOffsetsRequestData.ListOffsetsPartition()
                .setPartitionIndex(2).setTimestamp(1700000000000L);
        if (v >= 4) p0.setCurrentLeaderEpoch(5);
        d.setTopics(list(new ListOffsetsRequestData.ListOffsetsTopic().setName("orders").setPartitions(list(p0, p1, p2))));
        return d;
    }

    static ListOffsetsResponseData listOffsetsResponse(int v) {
        ListOffsetsResponseData d = new ListOffsetsResponseData();
        if (v >= 2) d.setThrottleTimeMs(0);
        ListOffsetsResponseData.ListOffsetsPartitionResponse p0 = new ListOffsetsResponseData.ListOffsetsPartitionResponse()
                .setPartitionIndex(0).setErrorCode((short) 0).setTimestamp(-1).setOffset(110);
        ListOffsetsResponseData.ListOffsetsPartitionResponse p1 = new ListOffsetsResponseData.ListOffsetsPartitionResponse()
                .setPartitionIndex(1).setErrorCode((short) 0).setTimestamp(-1).setOffset(0);
        ListOffsetsResponseData.ListOffsetsPartitionResponse p2 = new ListOffsetsResponseData.ListOffsetsPartitionResponse()
                .setPartitionIndex(2).setErrorCode((short) 0).setTimestamp(1700000000123L).setOffset(42);
        if (v >= 4) p0.setLeaderEpoch(5);
        d.setTopics(list(new ListOffsetsResponseData.ListOffsetsTopicResponse().setName("orders").setPartitions(list(p0, p1, p2))));
        return d;
    }

    // ---- OffsetCommit / OffsetFetch -------------------------------------------------

    static OffsetCommitRequestData offsetCommitRequest(int v) {
        OffsetCommitRequestData d = new OffsetCommitRequestData().setGroupId("rill-consumers")
                .setGenerationIdOrMemberEpoch(7).setMemberId("consumer-1-abc");
        if (v >= 7) d.setGroupInstanceId("instance-1");
        if (v >= 2 && v <= 4) d.setRetentionTimeMs(86400000L);
        OffsetCommitRequestData.OffsetCommitRequestPartition p0 = new OffsetCommitRequestData.OffsetCommitRequestPartition()
                .setPartitionIndex(0).setCommittedOffset(110).setCommittedMetadata("");
        OffsetCommitRequestData.OffsetCommitRequestPartition p1 = new OffsetCommitRequestData.OffsetCommitRequestPartition()
                .setPartitionIndex(1).setCommittedOffset(42).setCommittedMetadata(null);
        if (v >= 6) p0.setCommittedLeaderEpoch(5);
        d.setTopics(list(new OffsetCommitRequestData.OffsetCommitRequestTopic().setName("orders").setPartitions(list(p0, p1))));
        return d;
    }

    static OffsetCommitResponseData offsetCommitResponse(int v) {
        OffsetCommitResponseData d = new OffsetCommitResponseData();
        if (v >= 3) d.setThrottleTimeMs(3);
        d.setTopics(list(new OffsetCommitResponseData.OffsetCommitResponseTopic().setName("orders").setPartitions(list(
                new OffsetCommitResponseData.OffsetCommitResponsePartition().setPartitionIndex(0).setErrorCode((short) 0),
                new OffsetCommitResponseData.OffsetCommitResponsePartition().setPartitionIndex(1).setErrorCode((short) 12)))));
        return d;
    }

    static OffsetFetchRequestData offsetFetchRequest(int v) {
        OffsetFetchRequestData d = new OffsetFetchRequestData();
        if (v <= 7) {
            d.setGroupId("rill-consumers").setTopics(list(
                    new OffsetFetchRequestData.OffsetFetchRequestTopic().setName("orders").setPartitionIndexes(list(0, 1))));
        } else {
            d.setGroups(list(
                    new OffsetFetchRequestData.OffsetFetchRequestGroup().setGroupId("rill-consumers").setTopics(list(
                            new OffsetFetchRequestData.OffsetFetchRequestTopics().setName("orders").setPartitionIndexes(list(0, 1)))),
                    new OffsetFetchRequestData.OffsetFetchRequestGroup().setGroupId("other-group").setTopics(null)));
        }
        if (v >= 7) d.setRequireStable(true);
        return d;
    }

    static OffsetFetchResponseData offsetFetchResponse(int v) {
        OffsetFetchResponseData d = new OffsetFetchResponseData();
        if (v >= 3) d.setThrottleTimeMs(0);
        if (v <= 7) {
            OffsetFetchResponseData.OffsetFetchResponsePartition p0 = new OffsetFetchResponseData.OffsetFetchResponsePartition()
                    .setPartitionIndex(0).setCommittedOffset(110).setMetadata("").setErrorCode((short) 0);
            OffsetFetchResponseData.OffsetFetchResponsePartition p1 = new OffsetFetchResponseData.OffsetFetchResponsePartition()
                    .setPartitionIndex(1).setCommittedOffset(-1).setMetadata(null).setErrorCode((short) 0);
            if (v >= 5) p0.setCommittedLeaderEpoch(5);
            d.setTopics(list(new OffsetFetchResponseData.OffsetFetchResponseTopic().setName("orders").setPartitions(list(p0, p1))));
            if (v >= 2) d.setErrorCode((short) 0);
        } else {
            d.setGroups(list(
                    new OffsetFetchResponseData.OffsetFetchResponseGroup().setGroupId("rill-consumers").setErrorCode((short) 0)
                            .setTopics(list(new OffsetFetchResponseData.OffsetFetchResponseTopics().setName("orders").setPartitions(list(
                                    new OffsetFetchResponseData.OffsetFetchResponsePartitions().setPartitionIndex(0)
                                            .setCommittedOffset(110).setCommittedLeaderEpoch(5).setMetadata("").setErrorCode((short) 0),
                                    new OffsetFetchResponseData.OffsetFetchResponsePartitions().setPartitionIndex(1)
                                            .setCommittedOffset(-1).setMetadata(null).setErrorCode((short) 0))))),
                    new OffsetFetchResponseData.OffsetFetchResponseGroup().setGroupId("other-group").setErrorCode((short) 16)));
        }
        return d;
    }

    // ---- FindCoordinator -----------------------------------------------------------

    static FindCoordinatorRequestData findCoordinatorRequest(int v) {
        FindCoordinatorRequestData d = new FindCoordinatorRequestData();
        if (v <= 3) d.setKey("rill-consumers");
        if (v >= 4) d.setKeyType((byte) 1).setCoordinatorKeys(list("txn-1", "txn-2"));
        return d;
    }

    static FindCoordinatorResponseData findCoordinatorResponse(int v) {
        FindCoordinatorResponseData d = new FindCoordinatorResponseData();
        if (v >= 1) d.setThrottleTimeMs(0);
        if (v <= 3) {
            d.setErrorCode((short) 0).setNodeId(1).setHost(HOST1).setPort(9092);
            if (v >= 1) d.setErrorMessage(null);
        } else {
            d.setCoordinators(list(
                    new FindCoordinatorResponseData.Coordinator().setKey("txn-1").setNodeId(1).setHost(HOST1).setPort(9092)
                            .setErrorCode((short) 0).setErrorMessage(null),
                    new FindCoordinatorResponseData.Coordinator().setKey("txn-2").setNodeId(-1).setHost("").setPort(-1)
                            .setErrorCode((short) 15).setErrorMessage("The coordinator is not available.")));
        }
        return d;
    }

    // ---- Classic group membership ----------------------------------------------------

    /** Join metadata: a ConsumerProtocolSubscription v1 with its version prefix, as consumers send it. */
    static byte[] joinMetadata() {
        return MessageUtil.toVersionPrefixedBytes((short) 1, subscription(1));
    }

    /** Sync assignment: a ConsumerProtocolAssignment v0 with its version prefix. */
    static byte[] syncAssignment() {
        return MessageUtil.toVersionPrefixedBytes((short) 0, assignment(0));
    }

    static JoinGroupRequestData joinGroupRequest(int v) {
        JoinGroupRequestData d = new JoinGroupRequestData().setGroupId("rill-consumers").setSessionTimeoutMs(45000)
                .setMemberId(v >= 4 ? "consumer-1-abc" : "").setProtocolType("consumer");
        if (v >= 1) d.setRebalanceTimeoutMs(300000);
        if (v >= 5) d.setGroupInstanceId("instance-1");
        if (v >= 8) d.setReason("rebalance requested by the application");
        d.protocols().add(new JoinGroupRequestData.JoinGroupRequestProtocol().setName("range").setMetadata(joinMetadata()));
        d.protocols().add(new JoinGroupRequestData.JoinGroupRequestProtocol().setName("cooperative-sticky").setMetadata(new byte[] {0, 3}));
        return d;
    }

    static JoinGroupResponseData joinGroupResponse(int v) {
        JoinGroupResponseData d = new JoinGroupResponseData().setErrorCode((short) 0).setGenerationId(7)
                .setProtocolName("range").setLeader("consumer-1-abc").setMemberId("consumer-1-abc");
        if (v >= 2) d.setThrottleTimeMs(0);
        if (v >= 7) d.setProtocolType("consumer");
        JoinGroupResponseData.JoinGroupResponseMember m1 = new JoinGroupResponseData.JoinGroupResponseMember()
                .setMemberId("consumer-1-abc").setMetadata(joinMetadata());
        JoinGroupResponseData.JoinGroupResponseMember m2 = new JoinGroupResponseData.JoinGroupResponseMember()
                .setMemberId("consumer-2-def").setMetadata(new byte[0]);
        if (v >= 5) m1.setGroupInstanceId("instance-1");
        d.setMembers(list(m1, m2));
        return d;
    }

    static SyncGroupRequestData syncGroupRequest(int v) {
        SyncGroupRequestData d = new SyncGroupRequestData().setGroupId("rill-consumers").setGenerationId(7)
                .setMemberId("consumer-1-abc");
        if (v >= 3) d.setGroupInstanceId("instance-1");
        if (v >= 5) d.setProtocolType("consumer").setProtocolName("range");
        d.setAssignments(list(
                new SyncGroupRequestData.SyncGroupRequestAssignment().setMemberId("consumer-1-abc").setAssignment(syncAssignment()),
                new SyncGroupRequestData.SyncGroupRequestAssignment().setMemberId("consumer-2-def").setAssignment(new byte[0])));
        return d;
    }

    static SyncGroupResponseData syncGroupResponse(int v) {
        SyncGroupResponseData d = new SyncGroupResponseData().setErrorCode((short) 0).setAssignment(syncAssignment());
        if (v >= 1) d.setThrottleTimeMs(0);
        if (v >= 5) d.setProtocolType("consumer").setProtocolName("range");
        return d;
    }

    static HeartbeatRequestData heartbeatRequest(int v) {
        HeartbeatRequestData d = new HeartbeatRequestData().setGroupId("rill-consumers").setGenerationId(7)
                .setMemberId("consumer-1-abc");
        if (v >= 3) d.setGroupInstanceId("instance-1");
        return d;
    }

    static HeartbeatResponseData heartbeatResponse(int v) {
        HeartbeatResponseData d = new HeartbeatResponseData().setErrorCode((short) 27);
        if (v >= 1) d.setThrottleTimeMs(0);
        return d;
    }

    static LeaveGroupRequestData leaveGroupRequest(int v) {
        LeaveGroupRequestData d = new LeaveGroupRequestData().setGroupId("rill-consumers");
        if (v <= 2) {
            d.setMemberId("consumer-1-abc");
        } else {
            LeaveGroupRequestData.MemberIdentity a = new LeaveGroupRequestData.MemberIdentity()
                    .setMemberId("consumer-1-abc").setGroupInstanceId(null);
            LeaveGroupRequestData.MemberIdentity b = new LeaveGroupRequestData.MemberIdentity()
                    .setMemberId("").setGroupInstanceId("instance-2");
            if (v >= 5) a.setReason("the consumer is being closed");
            d.setMembers(list(a, b));
        }
        return d;
    }

    static LeaveGroupResponseData leaveGroupResponse(int v) {
        LeaveGroupResponseData d = new LeaveGroupResponseData().setErrorCode((short) 0);
        if (v >= 1) d.setThrottleTimeMs(0);
        if (v >= 3) {
            d.setMembers(list(
                    new LeaveGroupResponseData.MemberResponse().setMemberId("consumer-1-abc").setGroupInstanceId(null).setErrorCode((short) 0),
                    new LeaveGroupResponseData.MemberResponse().setMemberId("").setGroupInstanceId("instance-2").setErrorCode((short) 25)));
        }
        return d;
    }

    // ---- InitProducerId, CreateTopics, SASL, DescribeConfigs -------------------------

    static InitProducerIdRequestData initProducerIdRequest(int v) {
        InitProducerIdRequestData d = new InitProducerIdRequestData().setTransactionTimeoutMs(60000);
        if (v >= 3) {
            d.setTransactionalId("txn-1").setProducerId(4000).setProducerEpoch((short) 2);
        } else {
            d.setTransactionalId(null);
        }
        return d;
    }

    static InitProducerIdResponseData initProducerIdResponse(int v) {
        return new InitProducerIdResponseData().setThrottleTimeMs(0).setErrorCode((short) 0)
                .setProducerId(4000).setProducerEpoch((short) (v >= 3 ? 3 : 0));
    }

    static CreateTopicsRequestData createTopicsRequest(int v) {
        CreateTopicsRequestData d = new CreateTopicsRequestData().setTimeoutMs(30000).setValidateOnly(false);
        CreateTopicsRequestData.CreatableTopic orders = new CreateTopicsRequestData.CreatableTopic()
                .setName("orders").setNumPartitions(3).setReplicationFactor((short) 2);
        orders.configs().add(new CreateTopicsRequestData.CreatableTopicConfig().setName("cleanup.policy").setValue("compact"));
        orders.configs().add(new CreateTopicsRequestData.CreatableTopicConfig().setName("retention.ms").setValue(null));
        CreateTopicsRequestData.CreatableTopic manual = new CreateTopicsRequestData.CreatableTopic()
                .setName("manual").setNumPartitions(-1).setReplicationFactor((short) -1);
        manual.assignments().add(new CreateTopicsRequestData.CreatableReplicaAssignment().setPartitionIndex(0).setBrokerIds(list(1, 2)));
        manual.assignments().add(new CreateTopicsRequestData.CreatableReplicaAssignment().setPartitionIndex(1).setBrokerIds(list(2, 1)));
        d.topics().add(orders);
        d.topics().add(manual);
        return d;
    }

    static CreateTopicsResponseData createTopicsResponse(int v) {
        CreateTopicsResponseData d = new CreateTopicsResponseData();
        if (v >= 2) d.setThrottleTimeMs(0);
        CreateTopicsResponseData.CreatableTopicResult orders = new CreateTopicsResponseData.CreatableTopicResult()
                .setName("orders").setErrorCode((short) 0).setErrorMessage(null);
        CreateTopicsResponseData.CreatableTopicResult manual = new CreateTopicsResponseData.CreatableTopicResult()
                .setName("manual").setErrorCode((short) 36).setErrorMessage("Topic 'manual' already exists.");
        if (v >= 5) {
            orders.setNumPartitions(3).setReplicationFactor((short) 2).setConfigs(list(
                    new CreateTopicsResponseData.CreatableTopicConfigs().setName("cleanup.policy").setValue("compact")
                            .setReadOnly(false).setConfigSource((byte) 1).setIsSensitive(false),
                    new CreateTopicsResponseData.CreatableTopicConfigs().setName("sasl.jaas.config").setValue(null)
                            .setReadOnly(true).setConfigSource((byte) 5).setIsSensitive(true)));
            manual.setTopicConfigErrorCode((short) 29).setConfigs(null);
        }
        if (v >= 7) orders.setTopicId(ORDERS_ID);
        d.topics().add(orders);
        d.topics().add(manual);
        return d;
    }

    static final String SCRAM_CLIENT_FIRST = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    static final String SCRAM_SERVER_FIRST =
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";

    static SaslAuthenticateResponseData saslAuthenticateResponse(int v) {
        SaslAuthenticateResponseData d = new SaslAuthenticateResponseData().setErrorCode((short) 0)
                .setErrorMessage(null).setAuthBytes(utf8(SCRAM_SERVER_FIRST));
        if (v >= 1) d.setSessionLifetimeMs(3600000L);
        return d;
    }

    static DescribeConfigsRequestData describeConfigsRequest(int v) {
        DescribeConfigsRequestData d = new DescribeConfigsRequestData().setResources(list(
                new DescribeConfigsRequestData.DescribeConfigsResource().setResourceType((byte) 2).setResourceName("orders")
                        .setConfigurationKeys(list("cleanup.policy", "retention.ms")),
                new DescribeConfigsRequestData.DescribeConfigsResource().setResourceType((byte) 4).setResourceName("1")
                        .setConfigurationKeys(null)));
        if (v >= 1) d.setIncludeSynonyms(true);
        if (v >= 3) d.setIncludeDocumentation(true);
        return d;
    }

    static DescribeConfigsResponseData describeConfigsResponse(int v) {
        DescribeConfigsResponseData.DescribeConfigsResourceResult policy = new DescribeConfigsResponseData.DescribeConfigsResourceResult()
                .setName("cleanup.policy").setValue("compact").setReadOnly(false).setIsSensitive(false);
        DescribeConfigsResponseData.DescribeConfigsResourceResult jaas = new DescribeConfigsResponseData.DescribeConfigsResourceResult()
                .setName("sasl.jaas.config").setValue(null).setReadOnly(true).setIsSensitive(true);
        if (v >= 1) {
            policy.setConfigSource((byte) 1).setSynonyms(list(
                    new DescribeConfigsResponseData.DescribeConfigsSynonym().setName("cleanup.policy").setValue("compact").setSource((byte) 1),
                    new DescribeConfigsResponseData.DescribeConfigsSynonym().setName("log.cleanup.policy").setValue("delete").setSource((byte) 5)));
            jaas.setConfigSource((byte) 4).setSynonyms(list(
                    new DescribeConfigsResponseData.DescribeConfigsSynonym().setName("sasl.jaas.config").setValue(null).setSource((byte) 4)));
        }
        if (v >= 3) {
            policy.setConfigType((byte) 7).setDocumentation("Designate the retention policy to use on old log segments.");
            jaas.setConfigType((byte) 9).setDocumentation(null);
        }
        return new DescribeConfigsResponseData().setThrottleTimeMs(0).setResults(list(
                new DescribeConfigsResponseData.DescribeConfigsResult().setErrorCode((short) 0).setErrorMessage(null)
                        .setResourceType((byte) 2).setResourceName("orders").setConfigs(list(policy, jaas)),
                new DescribeConfigsResponseData.DescribeConfigsResult().setErrorCode((short) 29)
                        .setErrorMessage("Authorization failed.").setResourceType((byte) 4).setResourceName("1")
                        .setConfigs(list())));
    }

    // ---- KIP-848 and KIP-966 -------------------------------------------------------

    static ConsumerGroupHeartbeatRequestData consumerGroupHeartbeatRequest(int v) {
        ConsumerGroupHeartbeatRequestData d = new ConsumerGroupHeartbeatRequestData().setGroupId("rill-consumers")
                .setMemberId("AAAAAAAAAAAAAAAAAAAAAA").setMemberEpoch(v == 0 ? 0 : 5).setInstanceId(null).setRackId("rack-a")
                .setRebalanceTimeoutMs(300000).setServerAssignor("uniform");
        if (v == 0) {
            d.setSubscribedTopicNames(list("orders", "payments")).setTopicPartitions(list());
        } else {
            d.setSubscribedTopicNames(null).setSubscribedTopicRegex("orders-.*").setServerAssignor(null)
                    .setTopicPartitions(list(new ConsumerGroupHeartbeatRequestData.TopicPartitions()
                            .setTopicId(ORDERS_ID).setPartitions(list(0, 1))));
        }
        return d;
    }

    static ConsumerGroupHeartbeatResponseData consumerGroupHeartbeatResponse(int v) {
        ConsumerGroupHeartbeatResponseData d = new ConsumerGroupHeartbeatResponseData().setThrottleTimeMs(0)
                .setErrorCode((short) 0).setErrorMessage(null).setMemberId("AAAAAAAAAAAAAAAAAAAAAA")
                .setMemberEpoch(5).setHeartbeatIntervalMs(5000);
        if (v == 0) {
            d.setAssignment(new ConsumerGroupHeartbeatResponseData.Assignment().setTopicPartitions(list(
                    new ConsumerGroupHeartbeatResponseData.TopicPartitions().setTopicId(ORDERS_ID).setPartitions(list(0, 1, 2)),
                    new ConsumerGroupHeartbeatResponseData.TopicPartitions().setTopicId(PAYMENTS_ID).setPartitions(list()))));
        } else {
            d.setAssignment(null);
        }
        return d;
    }

    static DescribeTopicPartitionsRequestData describeTopicPartitionsRequest() {
        return new DescribeTopicPartitionsRequestData().setTopics(list(
                        new DescribeTopicPartitionsRequestData.TopicRequest().setName("orders"),
                        new DescribeTopicPartitionsRequestData.TopicRequest().setName("payments")))
                .setResponsePartitionLimit(2000)
                .setCursor(new DescribeTopicPartitionsRequestData.Cursor().setTopicName("orders").setPartitionIndex(1));
    }

    static DescribeTopicPartitionsResponseData describeTopicPartitionsResponse() {
        DescribeTopicPartitionsResponseData d = new DescribeTopicPartitionsResponseData().setThrottleTimeMs(0);
        d.topics().add(new DescribeTopicPartitionsResponseData.DescribeTopicPartitionsResponseTopic()
                .setErrorCode((short) 0).setName("orders").setTopicId(ORDERS_ID).setIsInternal(false)
                .setPartitions(list(
                        new DescribeTopicPartitionsResponseData.DescribeTopicPartitionsResponsePartition()
                                .setErrorCode((short) 0).setPartitionIndex(1).setLeaderId(1).setLeaderEpoch(5)
                                .setReplicaNodes(list(1, 2, 3)).setIsrNodes(list(1, 2))
                                .setEligibleLeaderReplicas(list(3)).setLastKnownElr(null).setOfflineReplicas(list()),
                        new DescribeTopicPartitionsResponseData.DescribeTopicPartitionsResponsePartition()
                                .setErrorCode((short) 0).setPartitionIndex(2).setLeaderId(-1).setLeaderEpoch(6)
                                .setReplicaNodes(list(2, 3)).setIsrNodes(list())
                                .setEligibleLeaderReplicas(list()).setLastKnownElr(list(2)).setOfflineReplicas(list(3))))
                .setTopicAuthorizedOperations(-2147483648));
        d.topics().add(new DescribeTopicPartitionsResponseData.DescribeTopicPartitionsResponseTopic()
                .setErrorCode((short) 3).setName("payments").setTopicId(Uuid.ZERO_UUID));
        d.setNextCursor(new DescribeTopicPartitionsResponseData.Cursor().setTopicName("payments").setPartitionIndex(0));
        return d;
    }

    // ---- Consumer protocol (embedded in JoinGroup/SyncGroup) -------------------------

    static ConsumerProtocolSubscription subscription(int v) {
        ConsumerProtocolSubscription d = new ConsumerProtocolSubscription().setTopics(list("orders", "payments"));
        if (v == 0) {
            d.setUserData(null);
        } else {
            d.setUserData(java.nio.ByteBuffer.wrap(new byte[] {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef}));
            d.ownedPartitions().add(new ConsumerProtocolSubscription.TopicPartition().setTopic("orders").setPartitions(list(0, 1)));
        }
        if (v >= 2) d.setGenerationId(7);
        if (v >= 3) d.setRackId("rack-a");
        return d;
    }

    static ConsumerProtocolAssignment assignment(int v) {
        ConsumerProtocolAssignment d = new ConsumerProtocolAssignment();
        d.assignedPartitions().add(new ConsumerProtocolAssignment.TopicPartition().setTopic("orders").setPartitions(list(0, 1)));
        d.assignedPartitions().add(new ConsumerProtocolAssignment.TopicPartition().setTopic("payments").setPartitions(list(2)));
        d.setUserData(v >= 3 ? java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}) : null);
        return d;
    }
}
