//! The golden message values, built in Rust. This mirrors
//! `golden/java/src/main/java/rill/golden/Messages.java` line for line: the same
//! value per vector name, with fields a version lacks left at their default.
//! Shared by `golden_vectors.rs` and `golden_java_decodes_rill.rs`.
#![allow(dead_code, clippy::all)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use rill_protocol::codec::RawTaggedField;
use rill_protocol::message::{decode_request, decode_response, encode_request, encode_response, Message, Request, Response};
use rill_protocol::messages::*;
use rill_protocol::{Reader, Uuid};

/// The committed vectors.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

/// The bytes of a committed vector, by name.
pub fn golden(name: &str) -> Bytes {
    let path = golden_dir().join(format!("{name}.bin"));
    match std::fs::read(&path) {
        Ok(b) => Bytes::from(b),
        Err(e) => panic!("cannot read golden vector {}: {e}", path.display()),
    }
}

/// One line of manifest.txt.
#[derive(Debug, Clone)]
pub struct ManifestEntry {
    pub name: String,
    pub kind: String,
    pub api_key: i16,
    pub version: i16,
    pub file: String,
}

pub fn manifest() -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(golden_dir().join("manifest.txt")).expect("read tests/golden/manifest.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad manifest line: {l}");
            ManifestEntry {
                name: f[0].to_string(),
                kind: f[1].to_string(),
                api_key: f[2].parse().expect("api key"),
                version: f[3].parse().expect("version"),
                file: f[4].to_string(),
            }
        })
        .collect()
}

// ---- a vector: one value at one version, type-erased ----------------------------

pub trait Vector {
    fn name(&self) -> &str;
    fn version(&self) -> i16;
    /// rill's encoding of the value.
    fn encode(&self) -> Result<Vec<u8>, String>;
    /// Decodes `bytes` with rill (consuming all of them) and compares with the value.
    fn decode_and_compare(&self, bytes: &Bytes) -> Result<(), String>;
}

struct V<M> {
    name: String,
    version: i16,
    value: M,
}

impl<M: Message + PartialEq + Debug> Vector for V<M> {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> i16 {
        self.version
    }
    fn encode(&self) -> Result<Vec<u8>, String> {
        let mut buf = BytesMut::new();
        self.value.encode(&mut buf, self.version).map_err(|e| format!("rill cannot encode it: {e}"))?;
        Ok(buf.to_vec())
    }
    fn decode_and_compare(&self, bytes: &Bytes) -> Result<(), String> {
        let mut r = Reader::new(bytes);
        let got = M::decode(&mut r, self.version).map_err(|e| format!("rill cannot decode it: {e}"))?;
        if r.remaining() != 0 {
            return Err(format!("{} bytes left over after decoding", r.remaining()));
        }
        if got != self.value {
            return Err(first_difference(&format!("{got:#?}"), &format!("{:#?}", self.value)));
        }
        Ok(())
    }
}

/// Points at the first line where two pretty-printed values differ, with context.
pub fn first_difference(got: &str, want: &str) -> String {
    let g: Vec<&str> = got.lines().collect();
    let w: Vec<&str> = want.lines().collect();
    let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    let from = i.saturating_sub(6);
    format!(
        "decoded value differs at line {}:\n  context:\n{}\n  got:  {}\n  want: {}",
        i + 1,
        w[from..i].iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"),
        g.get(i).unwrap_or(&"<end>"),
        w.get(i).unwrap_or(&"<end>"),
    )
}

// ---- whole frames: INT32 size, header (version chosen by rill), body ----------------------

const FRAME_CORRELATION_ID: i32 = 42;

fn frame_request_header<R: Request>(version: i16) -> request_header::RequestHeader {
    request_header::RequestHeader {
        request_api_key: R::API_KEY.0,
        request_api_version: version,
        correlation_id: FRAME_CORRELATION_ID,
        client_id: Some(s("rill-golden")),
        ..Default::default()
    }
}

fn strip_size(bytes: &Bytes) -> Result<Bytes, String> {
    let size = bytes.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or("no size prefix")?;
    if size as i64 != bytes.len() as i64 - 4 {
        return Err(format!("size prefix {size} but {} bytes follow", bytes.len() - 4));
    }
    Ok(bytes.slice(4..))
}

struct RequestFrame<R> {
    name: String,
    version: i16,
    body: R,
}

impl<R: Request + Clone + PartialEq + Debug + Into<RequestBody>> Vector for RequestFrame<R> {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> i16 {
        self.version
    }
    fn encode(&self) -> Result<Vec<u8>, String> {
        encode_request(&frame_request_header::<R>(self.version), &self.body, self.version)
            .map(|b| b.to_vec())
            .map_err(|e| format!("rill cannot encode the frame: {e}"))
    }
    fn decode_and_compare(&self, bytes: &Bytes) -> Result<(), String> {
        // As a broker reads it: the header version follows from the API key and version.
        let (header, body) = decode_request(&strip_size(bytes)?).map_err(|e| format!("rill cannot decode the frame: {e}"))?;
        let want_header = frame_request_header::<R>(self.version);
        if header != want_header {
            return Err(first_difference(&format!("{header:#?}"), &format!("{want_header:#?}")));
        }
        let want: RequestBody = self.body.clone().into();
        if body != want {
            return Err(first_difference(&format!("{body:#?}"), &format!("{want:#?}")));
        }
        Ok(())
    }
}

struct ResponseFrame<R> {
    name: String,
    version: i16,
    body: R,
}

impl<R: Response + PartialEq + Debug> Vector for ResponseFrame<R> {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> i16 {
        self.version
    }
    fn encode(&self) -> Result<Vec<u8>, String> {
        encode_response(FRAME_CORRELATION_ID, &self.body, self.version)
            .map(|b| b.to_vec())
            .map_err(|e| format!("rill cannot encode the frame: {e}"))
    }
    fn decode_and_compare(&self, bytes: &Bytes) -> Result<(), String> {
        let (header, body) =
            decode_response::<R>(&strip_size(bytes)?, self.version).map_err(|e| format!("rill cannot decode the frame: {e}"))?;
        let want_header = response_header::ResponseHeader { correlation_id: FRAME_CORRELATION_ID, ..Default::default() };
        if header != want_header {
            return Err(first_difference(&format!("{header:#?}"), &format!("{want_header:#?}")));
        }
        if body != self.body {
            return Err(first_difference(&format!("{body:#?}"), &format!("{:#?}", self.body)));
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct Vectors(pub Vec<Box<dyn Vector>>);

impl Vectors {
    fn add<M: Message + PartialEq + Debug + 'static>(&mut self, base: &str, version: i16, value: M) {
        self.0.push(Box::new(V { name: format!("{base}_v{version}"), version, value }));
    }

    fn request_frame<R: Request + Clone + PartialEq + Debug + Into<RequestBody> + 'static>(&mut self, base: &str, version: i16, body: R) {
        self.0.push(Box::new(RequestFrame { name: format!("frame_{base}_v{version}"), version, body }));
    }

    fn response_frame<R: Response + PartialEq + Debug + 'static>(&mut self, base: &str, version: i16, body: R) {
        self.0.push(Box::new(ResponseFrame { name: format!("frame_{base}_v{version}"), version, body }));
    }
}

// ---- helpers ----------------------------------------------------------------------

pub const ORDERS_ID: Uuid = Uuid(hex16(0x1122334455667788, 0x99aabbccddeeff00));
pub const PAYMENTS_ID: Uuid = Uuid(hex16(0x0123456789abcdef, 0x0fedcba987654321));
pub const UNKNOWN_ID: Uuid = Uuid(hex16(0x7777777777777777, 0x0000000000000001));
pub const ZERO_ID: Uuid = Uuid([0; 16]);
const HOST1: &str = "broker-1.rill.test";
const HOST2: &str = "broker-2.rill.test";

const fn hex16(most: u64, least: u64) -> [u8; 16] {
    let m = most.to_be_bytes();
    let l = least.to_be_bytes();
    [m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]
}

fn s(x: &str) -> String {
    x.to_string()
}

fn tagged(tag: u32, data: &[u8]) -> RawTaggedField {
    RawTaggedField { tag, data: Bytes::copy_from_slice(data) }
}

fn b(x: &[u8]) -> Bytes {
    Bytes::copy_from_slice(x)
}

/// A version-prefixed embedded payload, as JoinGroup/SyncGroup carry them.
fn prefixed(version: i16, body: &Bytes) -> Bytes {
    let mut v = version.to_be_bytes().to_vec();
    v.extend_from_slice(body);
    Bytes::from(v)
}

const SCRAM_CLIENT_FIRST: &str = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
const SCRAM_SERVER_FIRST: &str = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";

// ---- the vectors, in Messages.java's order ------------------------------------------

pub fn all() -> Vectors {
    let mut out = Vectors::default();
    headers(&mut out);
    for v in 0..=4 {
        out.add("api_versions_request", v, api_versions_request(v));
    }
    for v in 0..=4 {
        out.add("api_versions_response", v, api_versions_response(v));
    }
    for v in 0..=12 {
        out.add("metadata_request", v, metadata_request(v));
    }
    out.add("metadata_request_all_topics", 1, metadata_request::MetadataRequest { topics: None, ..Default::default() });
    for v in 0..=12 {
        out.add("metadata_response", v, metadata_response(v));
    }
    for v in 3..=11 {
        out.add("produce_request", v, produce_request(v));
    }
    for v in 3..=11 {
        out.add("produce_response", v, produce_response(v));
    }
    for v in 4..=17 {
        out.add("fetch_request", v, fetch_request(v));
    }
    for v in 4..=17 {
        out.add("fetch_response", v, fetch_response(v));
    }
    for v in 1..=10 {
        out.add("list_offsets_request", v, list_offsets_request(v));
    }
    for v in 1..=10 {
        out.add("list_offsets_response", v, list_offsets_response(v));
    }
    for v in 2..=9 {
        out.add("offset_commit_request", v, offset_commit_request(v));
    }
    for v in 2..=9 {
        out.add("offset_commit_response", v, offset_commit_response(v));
    }
    for v in 1..=9 {
        out.add("offset_fetch_request", v, offset_fetch_request(v));
    }
    for v in 1..=9 {
        out.add("offset_fetch_response", v, offset_fetch_response(v));
    }
    for v in 0..=6 {
        out.add("find_coordinator_request", v, find_coordinator_request(v));
    }
    for v in 0..=6 {
        out.add("find_coordinator_response", v, find_coordinator_response(v));
    }
    for v in 0..=9 {
        out.add("join_group_request", v, join_group_request(v));
    }
    for v in 0..=9 {
        out.add("join_group_response", v, join_group_response(v));
    }
    for v in 0..=5 {
        out.add("sync_group_request", v, sync_group_request(v));
    }
    for v in 0..=5 {
        out.add("sync_group_response", v, sync_group_response(v));
    }
    for v in 0..=4 {
        out.add("heartbeat_request", v, heartbeat_request(v));
    }
    for v in 0..=4 {
        out.add("heartbeat_response", v, heartbeat_response(v));
    }
    for v in 0..=5 {
        out.add("leave_group_request", v, leave_group_request(v));
    }
    for v in 0..=5 {
        out.add("leave_group_response", v, leave_group_response(v));
    }
    for v in 0..=5 {
        out.add("init_producer_id_request", v, init_producer_id_request(v));
    }
    for v in 0..=5 {
        out.add("init_producer_id_response", v, init_producer_id_response(v));
    }
    for v in 2..=7 {
        out.add("create_topics_request", v, create_topics_request(v));
    }
    for v in 2..=7 {
        out.add("create_topics_response", v, create_topics_response(v));
    }
    for v in 0..=1 {
        out.add(
            "sasl_handshake_request",
            v,
            sasl_handshake_request::SaslHandshakeRequest { mechanism: s("SCRAM-SHA-256"), ..Default::default() },
        );
    }
    for v in 0..=1 {
        out.add(
            "sasl_handshake_response",
            v,
            sasl_handshake_response::SaslHandshakeResponse {
                error_code: 0,
                mechanisms: vec![s("PLAIN"), s("SCRAM-SHA-256"), s("SCRAM-SHA-512")],
                ..Default::default()
            },
        );
    }
    for v in 0..=2 {
        out.add(
            "sasl_authenticate_request",
            v,
            sasl_authenticate_request::SaslAuthenticateRequest { auth_bytes: b(SCRAM_CLIENT_FIRST.as_bytes()), ..Default::default() },
        );
    }
    for v in 0..=2 {
        out.add("sasl_authenticate_response", v, sasl_authenticate_response(v));
    }
    for v in 1..=4 {
        out.add("describe_configs_request", v, describe_configs_request(v));
    }
    for v in 1..=4 {
        out.add("describe_configs_response", v, describe_configs_response(v));
    }
    for v in 0..=1 {
        out.add("consumer_group_heartbeat_request", v, consumer_group_heartbeat_request(v));
    }
    for v in 0..=1 {
        out.add("consumer_group_heartbeat_response", v, consumer_group_heartbeat_response(v));
    }
    out.add("describe_topic_partitions_request", 0, describe_topic_partitions_request());
    out.add("describe_topic_partitions_response", 0, describe_topic_partitions_response());
    for v in 0..=3 {
        out.add("consumer_protocol_subscription", v, subscription(v));
    }
    for v in 0..=3 {
        out.add("consumer_protocol_assignment", v, assignment(v));
    }
    frames(&mut out);
    out
}

fn frames(out: &mut Vectors) {
    out.request_frame("api_versions_request", 0, api_versions_request(0));
    out.request_frame("api_versions_request", 3, api_versions_request(3));
    out.response_frame("api_versions_response", 0, api_versions_response(0));
    // Header v0 although the body is flexible (KIP-511).
    out.response_frame("api_versions_response", 3, api_versions_response(3));
    out.request_frame("metadata_request", 1, metadata_request(1));
    out.request_frame("metadata_request", 12, metadata_request(12));
    out.response_frame("metadata_response", 1, metadata_response(1));
    out.response_frame("metadata_response", 12, metadata_response(12));
    out.request_frame("produce_request", 3, produce_request(3));
    out.request_frame("produce_request", 9, produce_request(9));
    out.response_frame("produce_response", 9, produce_response(9));
    out.request_frame("fetch_request", 4, fetch_request(4));
    out.request_frame("fetch_request", 12, fetch_request(12));
    out.response_frame("fetch_response", 4, fetch_response(4));
    out.response_frame("fetch_response", 12, fetch_response(12));
    out.request_frame("find_coordinator_request", 4, find_coordinator_request(4));
    out.response_frame("find_coordinator_response", 4, find_coordinator_response(4));
    out.request_frame("join_group_request", 9, join_group_request(9));
    out.response_frame("init_producer_id_response", 4, init_producer_id_response(4));
    out.request_frame(
        "sasl_handshake_request",
        1,
        sasl_handshake_request::SaslHandshakeRequest { mechanism: s("SCRAM-SHA-256"), ..Default::default() },
    );
    out.request_frame(
        "sasl_authenticate_request",
        2,
        sasl_authenticate_request::SaslAuthenticateRequest { auth_bytes: b(SCRAM_CLIENT_FIRST.as_bytes()), ..Default::default() },
    );
    out.response_frame("sasl_authenticate_response", 2, sasl_authenticate_response(2));
    out.request_frame("consumer_group_heartbeat_request", 0, consumer_group_heartbeat_request(0));
    out.response_frame("consumer_group_heartbeat_response", 0, consumer_group_heartbeat_response(0));
    out.request_frame("describe_topic_partitions_request", 0, describe_topic_partitions_request());
    out.response_frame("describe_topic_partitions_response", 0, describe_topic_partitions_response());
}

// ---- headers ------------------------------------------------------------------------

fn headers(out: &mut Vectors) {
    use request_header::RequestHeader;
    use response_header::ResponseHeader;
    let req = RequestHeader {
        request_api_key: 3,
        request_api_version: 12,
        correlation_id: 42,
        client_id: Some(s("rill-golden")),
        ..Default::default()
    };
    out.add("request_header", 1, req.clone());
    out.add("request_header_null_client_id", 1, RequestHeader { client_id: None, ..req.clone() });
    out.add(
        "request_header",
        2,
        RequestHeader { correlation_id: 0x01020304, unknown_tagged_fields: vec![tagged(5, &[0xca, 0xfe])], ..req },
    );
    out.add("response_header", 0, ResponseHeader { correlation_id: 42, ..Default::default() });
    out.add(
        "response_header",
        1,
        ResponseHeader { correlation_id: -7, unknown_tagged_fields: vec![tagged(0, &[0x01])], ..Default::default() },
    );
}

// ---- ApiVersions ----------------------------------------------------------------------

fn api_versions_request(v: i16) -> api_versions_request::ApiVersionsRequest {
    let mut d = api_versions_request::ApiVersionsRequest::default();
    if v >= 3 {
        d.client_software_name = s("rill");
        d.client_software_version = s("0.1.0");
    }
    d
}

fn api_versions_response(v: i16) -> api_versions_response::ApiVersionsResponse {
    use api_versions_response::*;
    let mut d = ApiVersionsResponse { error_code: 0, ..Default::default() };
    for (k, min, max) in [(0, 3, 11), (1, 4, 17), (3, 0, 12), (18, 0, 4), (75, 0, 0)] {
        d.api_keys.push(ApiVersion { api_key: k, min_version: min, max_version: max, ..Default::default() });
    }
    if v >= 1 {
        d.throttle_time_ms = 7;
    }
    if v >= 3 {
        d.supported_features.push(SupportedFeatureKey {
            name: s("metadata.version"),
            min_version: 1,
            max_version: 27,
            ..Default::default()
        });
        d.finalized_features_epoch = 12345;
        d.finalized_features.push(FinalizedFeatureKey {
            name: s("metadata.version"),
            max_version_level: 27,
            min_version_level: 27,
            ..Default::default()
        });
        d.unknown_tagged_fields.push(tagged(9, &[0x68, 0x69]));
    }
    d
}

// ---- Metadata -------------------------------------------------------------------------

fn metadata_request(v: i16) -> metadata_request::MetadataRequest {
    use metadata_request::*;
    let mut d = MetadataRequest::default();
    d.topics = Some(if v >= 12 {
        vec![
            MetadataRequestTopic { topic_id: ORDERS_ID, name: None, ..Default::default() },
            MetadataRequestTopic { name: Some(s("payments")), ..Default::default() },
        ]
    } else {
        vec![
            MetadataRequestTopic { name: Some(s("orders")), ..Default::default() },
            MetadataRequestTopic { name: Some(s("payments")), ..Default::default() },
        ]
    });
    if v >= 4 {
        d.allow_auto_topic_creation = false;
    }
    if (8..=10).contains(&v) {
        d.include_cluster_authorized_operations = true;
    }
    if v >= 8 {
        d.include_topic_authorized_operations = true;
    }
    d
}

fn metadata_response(v: i16) -> metadata_response::MetadataResponse {
    use metadata_response::*;
    let mut d = MetadataResponse::default();
    if v >= 3 {
        d.throttle_time_ms = 10;
    }
    d.brokers.push(MetadataResponseBroker {
        node_id: 1,
        host: s(HOST1),
        port: 9092,
        rack: if v >= 1 { Some(s("rack-a")) } else { None },
        ..Default::default()
    });
    d.brokers.push(MetadataResponseBroker { node_id: 2, host: s(HOST2), port: 9093, rack: None, ..Default::default() });
    if v >= 2 {
        d.cluster_id = Some(s("rill-cluster-0001"));
    }
    if v >= 1 {
        d.controller_id = 1;
    }
    let mut orders = MetadataResponseTopic {
        error_code: 0,
        name: Some(s("orders")),
        is_internal: false,
        partitions: vec![
            metadata_partition(v, 0, 1, 5, vec![1, 2], vec![1, 2], vec![]),
            metadata_partition(v, 1, 2, 6, vec![2, 1], vec![2], vec![1]),
        ],
        ..Default::default()
    };
    let mut offsets = MetadataResponseTopic {
        error_code: 0,
        name: Some(s("__consumer_offsets")),
        is_internal: v >= 1,
        partitions: vec![metadata_partition(v, 0, 1, 0, vec![1], vec![1], vec![])],
        ..Default::default()
    };
    let missing = MetadataResponseTopic { error_code: 3, name: Some(s("missing")), ..Default::default() };
    if v >= 10 {
        orders.topic_id = ORDERS_ID;
        offsets.topic_id = PAYMENTS_ID;
    }
    if v >= 8 {
        orders.topic_authorized_operations = 0x0df8;
        offsets.topic_authorized_operations = 0x0008;
    }
    d.topics = vec![orders, offsets, missing];
    if v >= 12 {
        d.topics.push(MetadataResponseTopic { error_code: 100, name: None, topic_id: UNKNOWN_ID, ..Default::default() });
    }
    if (8..=10).contains(&v) {
        d.cluster_authorized_operations = 0x0ff8;
    }
    if v >= 9 {
        d.unknown_tagged_fields.push(tagged(7, &[0x01, 0x02, 0x03]));
    }
    d
}

fn metadata_partition(
    v: i16,
    index: i32,
    leader: i32,
    epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
) -> metadata_response::MetadataResponsePartition {
    let mut p = metadata_response::MetadataResponsePartition {
        error_code: 0,
        partition_index: index,
        leader_id: leader,
        replica_nodes: replicas,
        isr_nodes: isr,
        ..Default::default()
    };
    if v >= 7 {
        p.leader_epoch = epoch;
    }
    if v >= 5 {
        p.offline_replicas = offline;
    }
    p
}

// ---- Produce ----------------------------------------------------------------------------

fn produce_request(v: i16) -> produce_request::ProduceRequest {
    use produce_request::*;
    let mut d = ProduceRequest { acks: -1, timeout_ms: 30000, ..Default::default() };
    let mut orders = TopicProduceData { name: s("orders"), ..Default::default() };
    if v >= 11 {
        d.transactional_id = Some(s("txn-1"));
        orders.partition_data.push(PartitionProduceData {
            index: 0,
            records: Some(golden("records_v2_transactional")),
            ..Default::default()
        });
    } else {
        orders.partition_data.push(PartitionProduceData {
            index: 0,
            records: Some(golden(if v >= 9 { "records_v2_gzip" } else { "records_v2_none" })),
            ..Default::default()
        });
        orders.partition_data.push(PartitionProduceData { index: 1, records: Some(golden("records_v2_idempotent")), ..Default::default() });
    }
    d.topic_data.push(orders);
    if v >= 9 {
        d.topic_data.push(TopicProduceData {
            name: s("payments"),
            partition_data: vec![PartitionProduceData { index: 2, records: None, ..Default::default() }],
            ..Default::default()
        });
    }
    d
}

fn produce_response(v: i16) -> produce_response::ProduceResponse {
    use produce_response::*;
    let mut d = ProduceResponse::default();
    let mut ok = PartitionProduceResponse { index: 0, error_code: 0, base_offset: 100, ..Default::default() };
    let mut not_leader = PartitionProduceResponse { index: 1, error_code: 6, base_offset: -1, ..Default::default() };
    let mut invalid = PartitionProduceResponse { index: 2, error_code: 87, base_offset: -1, ..Default::default() };
    if v >= 2 {
        ok.log_append_time_ms = 1700000000500;
    }
    if v >= 5 {
        ok.log_start_offset = 0;
    }
    if v >= 8 {
        invalid.record_errors = vec![
            BatchIndexAndErrorMessage { batch_index: 2, batch_index_error_message: Some(s("bad record")), ..Default::default() },
            BatchIndexAndErrorMessage { batch_index: 4, batch_index_error_message: None, ..Default::default() },
        ];
        invalid.error_message = Some(s("One or more records have been rejected"));
    }
    if v >= 10 {
        not_leader.current_leader = LeaderIdAndEpoch { leader_id: 2, leader_epoch: 7, ..Default::default() };
    }
    d.responses.push(TopicProduceResponse { name: s("orders"), partition_responses: vec![ok, not_leader, invalid], ..Default::default() });
    if v >= 1 {
        d.throttle_time_ms = 5;
    }
    if v >= 10 {
        d.node_endpoints.push(NodeEndpoint { node_id: 2, host: s(HOST2), port: 9093, rack: Some(s("rack-b")), ..Default::default() });
    }
    d
}

// ---- Fetch --------------------------------------------------------------------------------

fn fetch_request(v: i16) -> fetch_request::FetchRequest {
    use fetch_request::*;
    let mut d = FetchRequest { max_wait_ms: 500, min_bytes: 1, ..Default::default() };
    if v <= 14 {
        d.replica_id = -1;
    }
    if v >= 15 {
        d.replica_state = ReplicaState { replica_id: 3, replica_epoch: 9, ..Default::default() };
    }
    if v >= 3 {
        d.max_bytes = 52428800;
    }
    if v >= 4 {
        d.isolation_level = 1;
    }
    if v >= 7 {
        d.session_id = 123;
        d.session_epoch = 4;
    }
    if v >= 12 {
        d.cluster_id = Some(s("rill-cluster-0001"));
    }
    let mut orders = FetchTopic::default();
    if v >= 13 {
        orders.topic_id = ORDERS_ID;
    } else {
        orders.topic = s("orders");
    }
    let mut p0 = FetchPartition { partition: 0, fetch_offset: 100, partition_max_bytes: 1048576, ..Default::default() };
    let mut p1 = FetchPartition { partition: 1, fetch_offset: 0, partition_max_bytes: 1048576, ..Default::default() };
    if v >= 9 {
        p0.current_leader_epoch = 5;
    }
    if v >= 12 {
        p0.last_fetched_epoch = 4;
    }
    if v >= 5 {
        p1.log_start_offset = 0;
    }
    orders.partitions = vec![p0, p1];
    d.topics = vec![orders];
    if v >= 7 {
        let mut gone = ForgottenTopic { partitions: vec![0, 2], ..Default::default() };
        if v >= 13 {
            gone.topic_id = PAYMENTS_ID;
        } else {
            gone.topic = s("payments");
        }
        d.forgotten_topics_data = vec![gone];
    }
    if v >= 11 {
        d.rack_id = s("rack-a");
    }
    d
}

fn fetch_response(v: i16) -> fetch_response::FetchResponse {
    use fetch_response::*;
    let mut d = FetchResponse::default();
    if v >= 1 {
        d.throttle_time_ms = 0;
    }
    if v >= 7 {
        d.error_code = 0;
        d.session_id = 123;
    }
    let mut orders = FetchableTopicResponse::default();
    if v >= 13 {
        orders.topic_id = ORDERS_ID;
    } else {
        orders.topic = s("orders");
    }
    let mut p0 = PartitionData {
        partition_index: 0,
        error_code: 0,
        high_watermark: 110,
        records: Some(golden("records_v2_two_batches")),
        ..Default::default()
    };
    let mut p1 = PartitionData { partition_index: 1, error_code: 1, high_watermark: -1, records: None, ..Default::default() };
    if v >= 4 {
        p0.last_stable_offset = 105;
        p0.aborted_transactions = Some(vec![
            AbortedTransaction { producer_id: 4001, first_offset: 101, ..Default::default() },
            AbortedTransaction { producer_id: 4002, first_offset: 103, ..Default::default() },
        ]);
        p1.last_stable_offset = -1;
        p1.aborted_transactions = None;
    }
    if v >= 5 {
        p0.log_start_offset = 0;
    }
    if v >= 11 {
        p0.preferred_read_replica = 2;
    }
    if v >= 12 {
        p1.diverging_epoch = EpochEndOffset { epoch: 4, end_offset: 90, ..Default::default() };
        p1.current_leader = LeaderIdAndEpoch { leader_id: 1, leader_epoch: 5, ..Default::default() };
        p0.unknown_tagged_fields.push(tagged(12, &[0x2a]));
    }
    orders.partitions = vec![p0, p1];
    d.responses = vec![orders];
    if v >= 16 {
        d.node_endpoints.push(NodeEndpoint { node_id: 1, host: s(HOST1), port: 9092, rack: Some(s("rack-a")), ..Default::default() });
        d.node_endpoints.push(NodeEndpoint { node_id: 2, host: s(HOST2), port: 9093, rack: None, ..Default::default() });
    }
    d
}

// ---- ListOffsets ----------------------------------------------------------------------------

fn list_offsets_request(v: i16) -> list_offsets_request::ListOffsetsRequest {
    use list_offsets_request::*;
    let mut d = ListOffsetsRequest { replica_id: -1, ..Default::default() };
    if v >= 2 {
        d.isolation_level = 1;
    }
    let mut p0 = ListOffsetsPartition { partition_index: 0, timestamp: -1, ..Default::default() };
    let p1 = ListOffsetsPartition { partition_index: 1, timestamp: -2, ..Default::default() };
    let p2 = ListOffsetsPartition { partition_index: 2, timestamp: 1700000000000, ..Default::default() };
    if v >= 4 {
        p0.current_leader_epoch = 5;
    }
    d.topics = vec![ListOffsetsTopic { name: s("orders"), partitions: vec![p0, p1, p2], ..Default::default() }];
    d
}

fn list_offsets_response(v: i16) -> list_offsets_response::ListOffsetsResponse {
    use list_offsets_response::*;
    let mut d = ListOffsetsResponse::default();
    if v >= 2 {
        d.throttle_time_ms = 0;
    }
    let mut p0 = ListOffsetsPartitionResponse { partition_index: 0, error_code: 0, timestamp: -1, offset: 110, ..Default::default() };
    let p1 = ListOffsetsPartitionResponse { partition_index: 1, error_code: 0, timestamp: -1, offset: 0, ..Default::default() };
    let p2 = ListOffsetsPartitionResponse { partition_index: 2, error_code: 0, timestamp: 1700000000123, offset: 42, ..Default::default() };
    if v >= 4 {
        p0.leader_epoch = 5;
    }
    d.topics = vec![ListOffsetsTopicResponse { name: s("orders"), partitions: vec![p0, p1, p2], ..Default::default() }];
    d
}

// ---- OffsetCommit / OffsetFetch ---------------------------------------------------------------

fn offset_commit_request(v: i16) -> offset_commit_request::OffsetCommitRequest {
    use offset_commit_request::*;
    let mut d = OffsetCommitRequest {
        group_id: s("rill-consumers"),
        generation_id_or_member_epoch: 7,
        member_id: s("consumer-1-abc"),
        ..Default::default()
    };
    if v >= 7 {
        d.group_instance_id = Some(s("instance-1"));
    }
    if (2..=4).contains(&v) {
        d.retention_time_ms = 86400000;
    }
    let mut p0 =
        OffsetCommitRequestPartition { partition_index: 0, committed_offset: 110, committed_metadata: Some(s("")), ..Default::default() };
    let p1 = OffsetCommitRequestPartition { partition_index: 1, committed_offset: 42, committed_metadata: None, ..Default::default() };
    if v >= 6 {
        p0.committed_leader_epoch = 5;
    }
    d.topics = vec![OffsetCommitRequestTopic { name: s("orders"), partitions: vec![p0, p1], ..Default::default() }];
    d
}

fn offset_commit_response(v: i16) -> offset_commit_response::OffsetCommitResponse {
    use offset_commit_response::*;
    let mut d = OffsetCommitResponse::default();
    if v >= 3 {
        d.throttle_time_ms = 3;
    }
    d.topics = vec![OffsetCommitResponseTopic {
        name: s("orders"),
        partitions: vec![
            OffsetCommitResponsePartition { partition_index: 0, error_code: 0, ..Default::default() },
            OffsetCommitResponsePartition { partition_index: 1, error_code: 12, ..Default::default() },
        ],
        ..Default::default()
    }];
    d
}

fn offset_fetch_request(v: i16) -> offset_fetch_request::OffsetFetchRequest {
    use offset_fetch_request::*;
    let mut d = OffsetFetchRequest::default();
    if v <= 7 {
        d.group_id = s("rill-consumers");
        d.topics = Some(vec![OffsetFetchRequestTopic { name: s("orders"), partition_indexes: vec![0, 1], ..Default::default() }]);
    } else {
        d.groups = vec![
            OffsetFetchRequestGroup {
                group_id: s("rill-consumers"),
                topics: Some(vec![OffsetFetchRequestTopics { name: s("orders"), partition_indexes: vec![0, 1], ..Default::default() }]),
                ..Default::default()
            },
            OffsetFetchRequestGroup { group_id: s("other-group"), topics: None, ..Default::default() },
        ];
    }
    if v >= 7 {
        d.require_stable = true;
    }
    d
}

fn offset_fetch_response(v: i16) -> offset_fetch_response::OffsetFetchResponse {
    use offset_fetch_response::*;
    let mut d = OffsetFetchResponse::default();
    if v >= 3 {
        d.throttle_time_ms = 0;
    }
    if v <= 7 {
        let mut p0 = OffsetFetchResponsePartition {
            partition_index: 0,
            committed_offset: 110,
            metadata: Some(s("")),
            error_code: 0,
            ..Default::default()
        };
        let p1 =
            OffsetFetchResponsePartition { partition_index: 1, committed_offset: -1, metadata: None, error_code: 0, ..Default::default() };
        if v >= 5 {
            p0.committed_leader_epoch = 5;
        }
        d.topics = vec![OffsetFetchResponseTopic { name: s("orders"), partitions: vec![p0, p1], ..Default::default() }];
        if v >= 2 {
            d.error_code = 0;
        }
    } else {
        d.groups = vec![
            OffsetFetchResponseGroup {
                group_id: s("rill-consumers"),
                error_code: 0,
                topics: vec![OffsetFetchResponseTopics {
                    name: s("orders"),
                    partitions: vec![
                        OffsetFetchResponsePartitions {
                            partition_index: 0,
                            committed_offset: 110,
                            committed_leader_epoch: 5,
                            metadata: Some(s("")),
                            error_code: 0,
                            ..Default::default()
                        },
                        OffsetFetchResponsePartitions {
                            partition_index: 1,
                            committed_offset: -1,
                            metadata: None,
                            error_code: 0,
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            OffsetFetchResponseGroup { group_id: s("other-group"), error_code: 16, ..Default::default() },
        ];
    }
    d
}

// ---- FindCoordinator --------------------------------------------------------------------------

fn find_coordinator_request(v: i16) -> find_coordinator_request::FindCoordinatorRequest {
    let mut d = find_coordinator_request::FindCoordinatorRequest::default();
    if v <= 3 {
        d.key = s("rill-consumers");
    }
    if v >= 4 {
        d.key_type = 1;
        d.coordinator_keys = vec![s("txn-1"), s("txn-2")];
    }
    d
}

fn find_coordinator_response(v: i16) -> find_coordinator_response::FindCoordinatorResponse {
    use find_coordinator_response::*;
    let mut d = FindCoordinatorResponse::default();
    if v >= 1 {
        d.throttle_time_ms = 0;
    }
    if v <= 3 {
        d.error_code = 0;
        d.node_id = 1;
        d.host = s(HOST1);
        d.port = 9092;
        if v >= 1 {
            d.error_message = None;
        }
    } else {
        d.coordinators = vec![
            Coordinator {
                key: s("txn-1"),
                node_id: 1,
                host: s(HOST1),
                port: 9092,
                error_code: 0,
                error_message: None,
                ..Default::default()
            },
            Coordinator {
                key: s("txn-2"),
                node_id: -1,
                host: s(""),
                port: -1,
                error_code: 15,
                error_message: Some(s("The coordinator is not available.")),
                ..Default::default()
            },
        ];
    }
    d
}

// ---- classic group membership -------------------------------------------------------------------

/// A ConsumerProtocolSubscription v1 with its version prefix (Java's bytes, checked on their own).
fn join_metadata() -> Bytes {
    prefixed(1, &golden("consumer_protocol_subscription_v1"))
}

/// A ConsumerProtocolAssignment v0 with its version prefix.
fn sync_assignment() -> Bytes {
    prefixed(0, &golden("consumer_protocol_assignment_v0"))
}

fn join_group_request(v: i16) -> join_group_request::JoinGroupRequest {
    use join_group_request::*;
    let mut d = JoinGroupRequest {
        group_id: s("rill-consumers"),
        session_timeout_ms: 45000,
        member_id: s(if v >= 4 { "consumer-1-abc" } else { "" }),
        protocol_type: s("consumer"),
        ..Default::default()
    };
    if v >= 1 {
        d.rebalance_timeout_ms = 300000;
    }
    if v >= 5 {
        d.group_instance_id = Some(s("instance-1"));
    }
    if v >= 8 {
        d.reason = Some(s("rebalance requested by the application"));
    }
    d.protocols = vec![
        JoinGroupRequestProtocol { name: s("range"), metadata: join_metadata(), ..Default::default() },
        JoinGroupRequestProtocol { name: s("cooperative-sticky"), metadata: b(&[0, 3]), ..Default::default() },
    ];
    d
}

fn join_group_response(v: i16) -> join_group_response::JoinGroupResponse {
    use join_group_response::*;
    let mut d = JoinGroupResponse {
        error_code: 0,
        generation_id: 7,
        protocol_name: Some(s("range")),
        leader: s("consumer-1-abc"),
        member_id: s("consumer-1-abc"),
        ..Default::default()
    };
    if v >= 2 {
        d.throttle_time_ms = 0;
    }
    if v >= 7 {
        d.protocol_type = Some(s("consumer"));
    }
    let mut m1 = JoinGroupResponseMember { member_id: s("consumer-1-abc"), metadata: join_metadata(), ..Default::default() };
    let m2 = JoinGroupResponseMember { member_id: s("consumer-2-def"), metadata: Bytes::new(), ..Default::default() };
    if v >= 5 {
        m1.group_instance_id = Some(s("instance-1"));
    }
    d.members = vec![m1, m2];
    d
}

fn sync_group_request(v: i16) -> sync_group_request::SyncGroupRequest {
    use sync_group_request::*;
    let mut d = SyncGroupRequest { group_id: s("rill-consumers"), generation_id: 7, member_id: s("consumer-1-abc"), ..Default::default() };
    if v >= 3 {
        d.group_instance_id = Some(s("instance-1"));
    }
    if v >= 5 {
        d.protocol_type = Some(s("consumer"));
        d.protocol_name = Some(s("range"));
    }
    d.assignments = vec![
        SyncGroupRequestAssignment { member_id: s("consumer-1-abc"), assignment: sync_assignment(), ..Default::default() },
        SyncGroupRequestAssignment { member_id: s("consumer-2-def"), assignment: Bytes::new(), ..Default::default() },
    ];
    d
}

fn sync_group_response(v: i16) -> sync_group_response::SyncGroupResponse {
    let mut d = sync_group_response::SyncGroupResponse { error_code: 0, assignment: sync_assignment(), ..Default::default() };
    if v >= 1 {
        d.throttle_time_ms = 0;
    }
    if v >= 5 {
        d.protocol_type = Some(s("consumer"));
        d.protocol_name = Some(s("range"));
    }
    d
}

fn heartbeat_request(v: i16) -> heartbeat_request::HeartbeatRequest {
    let mut d = heartbeat_request::HeartbeatRequest {
        group_id: s("rill-consumers"),
        generation_id: 7,
        member_id: s("consumer-1-abc"),
        ..Default::default()
    };
    if v >= 3 {
        d.group_instance_id = Some(s("instance-1"));
    }
    d
}

fn heartbeat_response(v: i16) -> heartbeat_response::HeartbeatResponse {
    let mut d = heartbeat_response::HeartbeatResponse { error_code: 27, ..Default::default() };
    if v >= 1 {
        d.throttle_time_ms = 0;
    }
    d
}

fn leave_group_request(v: i16) -> leave_group_request::LeaveGroupRequest {
    use leave_group_request::*;
    let mut d = LeaveGroupRequest { group_id: s("rill-consumers"), ..Default::default() };
    if v <= 2 {
        d.member_id = s("consumer-1-abc");
    } else {
        let mut a = MemberIdentity { member_id: s("consumer-1-abc"), group_instance_id: None, ..Default::default() };
        let b = MemberIdentity { member_id: s(""), group_instance_id: Some(s("instance-2")), ..Default::default() };
        if v >= 5 {
            a.reason = Some(s("the consumer is being closed"));
        }
        d.members = vec![a, b];
    }
    d
}

fn leave_group_response(v: i16) -> leave_group_response::LeaveGroupResponse {
    use leave_group_response::*;
    let mut d = LeaveGroupResponse { error_code: 0, ..Default::default() };
    if v >= 1 {
        d.throttle_time_ms = 0;
    }
    if v >= 3 {
        d.members = vec![
            MemberResponse { member_id: s("consumer-1-abc"), group_instance_id: None, error_code: 0, ..Default::default() },
            MemberResponse { member_id: s(""), group_instance_id: Some(s("instance-2")), error_code: 25, ..Default::default() },
        ];
    }
    d
}

// ---- InitProducerId, CreateTopics, SASL, DescribeConfigs -------------------------------------------

fn init_producer_id_request(v: i16) -> init_producer_id_request::InitProducerIdRequest {
    let mut d = init_producer_id_request::InitProducerIdRequest { transaction_timeout_ms: 60000, ..Default::default() };
    if v >= 3 {
        d.transactional_id = Some(s("txn-1"));
        d.producer_id = 4000;
        d.producer_epoch = 2;
    } else {
        d.transactional_id = None;
    }
    d
}

fn init_producer_id_response(v: i16) -> init_producer_id_response::InitProducerIdResponse {
    init_producer_id_response::InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code: 0,
        producer_id: 4000,
        producer_epoch: if v >= 3 { 3 } else { 0 },
        ..Default::default()
    }
}

fn create_topics_request(_v: i16) -> create_topics_request::CreateTopicsRequest {
    use create_topics_request::*;
    CreateTopicsRequest {
        timeout_ms: 30000,
        validate_only: false,
        topics: vec![
            CreatableTopic {
                name: s("orders"),
                num_partitions: 3,
                replication_factor: 2,
                configs: vec![
                    CreatableTopicConfig { name: s("cleanup.policy"), value: Some(s("compact")), ..Default::default() },
                    CreatableTopicConfig { name: s("retention.ms"), value: None, ..Default::default() },
                ],
                ..Default::default()
            },
            CreatableTopic {
                name: s("manual"),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![
                    CreatableReplicaAssignment { partition_index: 0, broker_ids: vec![1, 2], ..Default::default() },
                    CreatableReplicaAssignment { partition_index: 1, broker_ids: vec![2, 1], ..Default::default() },
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn create_topics_response(v: i16) -> create_topics_response::CreateTopicsResponse {
    use create_topics_response::*;
    let mut d = CreateTopicsResponse::default();
    if v >= 2 {
        d.throttle_time_ms = 0;
    }
    let mut orders = CreatableTopicResult { name: s("orders"), error_code: 0, error_message: None, ..Default::default() };
    let mut manual = CreatableTopicResult {
        name: s("manual"),
        error_code: 36,
        error_message: Some(s("Topic 'manual' already exists.")),
        ..Default::default()
    };
    if v >= 5 {
        orders.num_partitions = 3;
        orders.replication_factor = 2;
        orders.configs = Some(vec![
            CreatableTopicConfigs {
                name: s("cleanup.policy"),
                value: Some(s("compact")),
                read_only: false,
                config_source: 1,
                is_sensitive: false,
                ..Default::default()
            },
            CreatableTopicConfigs {
                name: s("sasl.jaas.config"),
                value: None,
                read_only: true,
                config_source: 5,
                is_sensitive: true,
                ..Default::default()
            },
        ]);
        manual.topic_config_error_code = 29;
        manual.configs = None;
    }
    if v >= 7 {
        orders.topic_id = ORDERS_ID;
    }
    d.topics = vec![orders, manual];
    d
}

fn sasl_authenticate_response(v: i16) -> sasl_authenticate_response::SaslAuthenticateResponse {
    let mut d = sasl_authenticate_response::SaslAuthenticateResponse {
        error_code: 0,
        error_message: None,
        auth_bytes: b(SCRAM_SERVER_FIRST.as_bytes()),
        ..Default::default()
    };
    if v >= 1 {
        d.session_lifetime_ms = 3600000;
    }
    d
}

fn describe_configs_request(v: i16) -> describe_configs_request::DescribeConfigsRequest {
    use describe_configs_request::*;
    let mut d = DescribeConfigsRequest {
        resources: vec![
            DescribeConfigsResource {
                resource_type: 2,
                resource_name: s("orders"),
                configuration_keys: Some(vec![s("cleanup.policy"), s("retention.ms")]),
                ..Default::default()
            },
            DescribeConfigsResource { resource_type: 4, resource_name: s("1"), configuration_keys: None, ..Default::default() },
        ],
        ..Default::default()
    };
    if v >= 1 {
        d.include_synonyms = true;
    }
    if v >= 3 {
        d.include_documentation = true;
    }
    d
}

fn describe_configs_response(v: i16) -> describe_configs_response::DescribeConfigsResponse {
    use describe_configs_response::*;
    let mut policy = DescribeConfigsResourceResult {
        name: s("cleanup.policy"),
        value: Some(s("compact")),
        read_only: false,
        is_sensitive: false,
        ..Default::default()
    };
    let mut jaas = DescribeConfigsResourceResult {
        name: s("sasl.jaas.config"),
        value: None,
        read_only: true,
        is_sensitive: true,
        ..Default::default()
    };
    if v >= 1 {
        policy.config_source = 1;
        policy.synonyms = vec![
            DescribeConfigsSynonym { name: s("cleanup.policy"), value: Some(s("compact")), source: 1, ..Default::default() },
            DescribeConfigsSynonym { name: s("log.cleanup.policy"), value: Some(s("delete")), source: 5, ..Default::default() },
        ];
        jaas.config_source = 4;
        jaas.synonyms = vec![DescribeConfigsSynonym { name: s("sasl.jaas.config"), value: None, source: 4, ..Default::default() }];
    }
    if v >= 3 {
        policy.config_type = 7;
        policy.documentation = Some(s("Designate the retention policy to use on old log segments."));
        jaas.config_type = 9;
        jaas.documentation = None;
    }
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results: vec![
            DescribeConfigsResult {
                error_code: 0,
                error_message: None,
                resource_type: 2,
                resource_name: s("orders"),
                configs: vec![policy, jaas],
                ..Default::default()
            },
            DescribeConfigsResult {
                error_code: 29,
                error_message: Some(s("Authorization failed.")),
                resource_type: 4,
                resource_name: s("1"),
                configs: vec![],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

// ---- KIP-848 and KIP-966 ----------------------------------------------------------------------------

fn consumer_group_heartbeat_request(v: i16) -> consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest {
    use consumer_group_heartbeat_request::*;
    let mut d = ConsumerGroupHeartbeatRequest {
        group_id: s("rill-consumers"),
        member_id: s("AAAAAAAAAAAAAAAAAAAAAA"),
        member_epoch: if v == 0 { 0 } else { 5 },
        instance_id: None,
        rack_id: Some(s("rack-a")),
        rebalance_timeout_ms: 300000,
        server_assignor: Some(s("uniform")),
        ..Default::default()
    };
    if v == 0 {
        d.subscribed_topic_names = Some(vec![s("orders"), s("payments")]);
        d.topic_partitions = Some(vec![]);
    } else {
        d.subscribed_topic_names = None;
        d.subscribed_topic_regex = Some(s("orders-.*"));
        d.server_assignor = None;
        d.topic_partitions = Some(vec![TopicPartitions { topic_id: ORDERS_ID, partitions: vec![0, 1], ..Default::default() }]);
    }
    d
}

fn consumer_group_heartbeat_response(v: i16) -> consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse {
    use consumer_group_heartbeat_response::*;
    let mut d = ConsumerGroupHeartbeatResponse {
        throttle_time_ms: 0,
        error_code: 0,
        error_message: None,
        member_id: Some(s("AAAAAAAAAAAAAAAAAAAAAA")),
        member_epoch: 5,
        heartbeat_interval_ms: 5000,
        ..Default::default()
    };
    if v == 0 {
        d.assignment = Some(Assignment {
            topic_partitions: vec![
                TopicPartitions { topic_id: ORDERS_ID, partitions: vec![0, 1, 2], ..Default::default() },
                TopicPartitions { topic_id: PAYMENTS_ID, partitions: vec![], ..Default::default() },
            ],
            ..Default::default()
        });
    } else {
        d.assignment = None;
    }
    d
}

fn describe_topic_partitions_request() -> describe_topic_partitions_request::DescribeTopicPartitionsRequest {
    use describe_topic_partitions_request::*;
    DescribeTopicPartitionsRequest {
        topics: vec![TopicRequest { name: s("orders"), ..Default::default() }, TopicRequest { name: s("payments"), ..Default::default() }],
        response_partition_limit: 2000,
        cursor: Some(Cursor { topic_name: s("orders"), partition_index: 1, ..Default::default() }),
        ..Default::default()
    }
}

fn describe_topic_partitions_response() -> describe_topic_partitions_response::DescribeTopicPartitionsResponse {
    use describe_topic_partitions_response::*;
    DescribeTopicPartitionsResponse {
        throttle_time_ms: 0,
        topics: vec![
            DescribeTopicPartitionsResponseTopic {
                error_code: 0,
                name: Some(s("orders")),
                topic_id: ORDERS_ID,
                is_internal: false,
                partitions: vec![
                    DescribeTopicPartitionsResponsePartition {
                        error_code: 0,
                        partition_index: 1,
                        leader_id: 1,
                        leader_epoch: 5,
                        replica_nodes: vec![1, 2, 3],
                        isr_nodes: vec![1, 2],
                        eligible_leader_replicas: Some(vec![3]),
                        last_known_elr: None,
                        offline_replicas: vec![],
                        ..Default::default()
                    },
                    DescribeTopicPartitionsResponsePartition {
                        error_code: 0,
                        partition_index: 2,
                        leader_id: -1,
                        leader_epoch: 6,
                        replica_nodes: vec![2, 3],
                        isr_nodes: vec![],
                        eligible_leader_replicas: Some(vec![]),
                        last_known_elr: Some(vec![2]),
                        offline_replicas: vec![3],
                        ..Default::default()
                    },
                ],
                topic_authorized_operations: i32::MIN,
                ..Default::default()
            },
            DescribeTopicPartitionsResponseTopic { error_code: 3, name: Some(s("payments")), topic_id: ZERO_ID, ..Default::default() },
        ],
        next_cursor: Some(Cursor { topic_name: s("payments"), partition_index: 0, ..Default::default() }),
        ..Default::default()
    }
}

// ---- consumer protocol (embedded in JoinGroup / SyncGroup) ----------------------------------------------

fn subscription(v: i16) -> consumer_protocol_subscription::ConsumerProtocolSubscription {
    use consumer_protocol_subscription::*;
    let mut d = ConsumerProtocolSubscription { topics: vec![s("orders"), s("payments")], ..Default::default() };
    if v == 0 {
        d.user_data = None;
    } else {
        d.user_data = Some(b(&[0xde, 0xad, 0xbe, 0xef]));
        d.owned_partitions.push(TopicPartition { topic: s("orders"), partitions: vec![0, 1], ..Default::default() });
    }
    if v >= 2 {
        d.generation_id = 7;
    }
    if v >= 3 {
        d.rack_id = Some(s("rack-a"));
    }
    d
}

fn assignment(v: i16) -> consumer_protocol_assignment::ConsumerProtocolAssignment {
    use consumer_protocol_assignment::*;
    ConsumerProtocolAssignment {
        assigned_partitions: vec![
            TopicPartition { topic: s("orders"), partitions: vec![0, 1], ..Default::default() },
            TopicPartition { topic: s("payments"), partitions: vec![2], ..Default::default() },
        ],
        user_data: if v >= 3 { Some(b(&[1, 2, 3])) } else { None },
        ..Default::default()
    }
}
