//! Byte layouts written out by hand from the Kafka protocol guide, pinned
//! independently of the round-trip tests, and the error behaviour of the
//! generated messages.

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::codec::RawTaggedField;
use rill_protocol::message::{decode_exact, decode_request, decode_response, encode_request, encode_response};
use rill_protocol::messages::api_versions_response::ApiVersion;
use rill_protocol::messages::fetch_response::{EpochEndOffset, FetchableTopicResponse, PartitionData};
use rill_protocol::messages::metadata_request::MetadataRequestTopic;
use rill_protocol::messages::*;
use rill_protocol::{ApiKey, DecodeErrorKind, EncodeError, Message, Reader};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn encode<M: Message>(m: &M, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, version).unwrap();
    assert_eq!(m.encoded_len(version).unwrap(), buf.len());
    buf.to_vec()
}

#[test]
fn api_versions_request_v3_frame() {
    let header = RequestHeader {
        request_api_key: ApiKey::API_VERSIONS.0,
        request_api_version: 3,
        correlation_id: 1,
        client_id: Some("rill".into()),
        ..Default::default()
    };
    let body = ApiVersionsRequest { client_software_name: "rill".into(), client_software_version: "0.1".into(), ..Default::default() };
    let frame = encode_request(&header, &body, 3).unwrap();
    let expected = hex("00 00 00 19
         00 12 00 03 00 00 00 01 00 04 72 69 6c 6c 00
         05 72 69 6c 6c 04 30 2e 31 00");
    assert_eq!(frame.to_vec(), expected);
    // The broker side: header version picked from the key and version, then the body by key.
    let (h, b) = decode_request(&Bytes::from(expected[4..].to_vec())).unwrap();
    assert_eq!(h, header);
    assert_eq!(b, RequestBody::ApiVersions(body));
}

#[test]
fn metadata_request_v1() {
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some("foo".into()), ..Default::default() }]),
        ..Default::default()
    };
    assert_eq!(encode(&req, 1), hex("00 00 00 01 00 03 66 6f 6f"));
    // null = all topics (v1+); an empty list at v0 meant the same.
    let all = MetadataRequest { topics: None, ..Default::default() };
    assert_eq!(encode(&all, 1), hex("ff ff ff ff"));
    assert!(matches!(
        all.encode(&mut BytesMut::new(), 0),
        Err(EncodeError::NullNotAllowed { field: "MetadataRequest.topics", version: 0 })
    ));
    // v9 is flexible: compact array, compact nullable string, tagged fields.
    assert_eq!(encode(&req, 9), hex("02 04 66 6f 6f 00 01 00 00 00"));
}

#[test]
fn api_versions_response_v3_uses_header_v0_and_tagged_fields() {
    let resp = ApiVersionsResponse {
        api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 4, ..Default::default() }],
        finalized_features_epoch: 7,
        ..Default::default()
    };
    let frame = encode_response(42, &resp, 3).unwrap();
    let expected = hex("00 00 00 1d
         00 00 00 2a
         00 00 02 00 12 00 00 00 04 00 00 00 00 00
         01 01 08 00 00 00 00 00 00 00 07");
    assert_eq!(frame.to_vec(), expected);
    let (header, body) = decode_response::<ApiVersionsResponse>(&Bytes::from(expected[4..].to_vec()), 3).unwrap();
    assert_eq!(header.correlation_id, 42);
    assert_eq!(body, resp);
}

#[test]
fn header_versions() {
    assert_eq!(ApiKey::API_VERSIONS.response_header_version(3), 0);
    assert_eq!(ApiKey::API_VERSIONS.request_header_version(3), 2);
    assert_eq!(ApiKey::FETCH.response_header_version(12), 1);
    assert_eq!(ApiKey::FETCH.response_header_version(11), 0);
    assert_eq!(ApiKey::CONTROLLED_SHUTDOWN.request_header_version(0), 0);
    assert_eq!(ApiKey::CONTROLLED_SHUTDOWN.request_header_version(1), 1);
    assert_eq!(ApiKey::PRODUCE.request_header_version(9), 2);
    assert_eq!(ApiKey(1000).name(), "Unknown");
    assert_eq!(ApiKey(1000).to_string(), "Unknown(1000)");
    assert_eq!(ApiKey::FETCH.supported_versions(), Some(FetchRequest::VERSIONS));
    assert_eq!(ApiKey::LEADER_AND_ISR.supported_versions(), None);
    assert_eq!(FetchResponse::FLEXIBLE_MIN, Some(12));
    assert!(ApiKey::ALL.len() > 70);
}

#[test]
fn fetch_response_v12_tagged_struct() {
    let resp = FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "t".into(),
            partitions: vec![PartitionData {
                diverging_epoch: EpochEndOffset { epoch: 3, end_offset: 9, ..Default::default() },
                records: None,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let expected = hex("00 00 00 00  00 00  00 00 00 00
         02  02 74  02
         00 00 00 00  00 00  00 00 00 00 00 00 00 00
         ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff
         01  ff ff ff ff  00
         01 00 0d 00 00 00 03 00 00 00 00 00 00 00 09 00
         00 00");
    assert_eq!(encode(&resp, 12), expected);
    assert_eq!(decode_exact::<FetchResponse>(&Bytes::from(expected), 12, "response").unwrap(), resp);
}

#[test]
fn unknown_tagged_fields_round_trip_in_tag_order() {
    let req = ApiVersionsRequest {
        client_software_name: "a".into(),
        client_software_version: "b".into(),
        unknown_tagged_fields: vec![
            RawTaggedField { tag: 5, data: Bytes::from_static(b"xy") },
            RawTaggedField { tag: 300, data: Bytes::new() },
        ],
    };
    let bytes = encode(&req, 3);
    assert_eq!(bytes, hex("02 61 02 62 02 05 02 78 79 ac 02 00"));
    assert_eq!(decode_exact::<ApiVersionsRequest>(&Bytes::from(bytes), 3, "request").unwrap(), req);
    // Tags out of order are refused.
    let bad = Bytes::from(hex("02 61 02 62 02 06 00 05 00"));
    let err = decode_exact::<ApiVersionsRequest>(&bad, 3, "request").unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InvalidValue { value: 5 });
    // Unknown tagged fields cannot be sent at a version without tagged fields.
    assert!(matches!(req.encode(&mut BytesMut::new(), 2), Err(EncodeError::FieldNotInVersion { .. })));
}

#[test]
fn encode_errors() {
    // SessionId exists from v7 and is not ignorable.
    let resp = FetchResponse { session_id: 5, ..Default::default() };
    assert!(matches!(
        resp.encode(&mut BytesMut::new(), 6),
        Err(EncodeError::FieldNotInVersion { field: "FetchResponse.session_id", version: 6 })
    ));
    // ThrottleTimeMs is ignorable: dropped silently before v1.
    let resp = FetchResponse { throttle_time_ms: 5, ..Default::default() };
    assert_eq!(encode(&resp, 0), hex("00 00 00 00"));
    assert!(matches!(
        FetchResponse::default().encode(&mut BytesMut::new(), 18),
        Err(EncodeError::UnsupportedVersion { api: "FetchResponse", version: 18 })
    ));
}

#[test]
fn decode_errors_name_the_message_version_and_field() {
    // MetadataResponse v1: brokers count 1, then the broker is cut short.
    let bytes = Bytes::from(hex("00 00 00 01  00 00 00 01  00 10  00 00 00 00 00 00"));
    let err = decode_exact::<MetadataResponse>(&bytes, 1, "response").unwrap_err();
    assert_eq!(err.context, Some(("MetadataResponse", 1, "response")));
    assert_eq!(err.field, "MetadataResponse.brokers.host");
    assert_eq!(err.kind, DecodeErrorKind::MissingData { needed: 16, remaining: 6 });
    assert!(err.to_string().contains("MetadataResponse v1 response"));
    // An absurd count is refused before allocating.
    let bytes = Bytes::from(hex("7f ff ff ff 00 00"));
    let err = decode_exact::<MetadataResponse>(&bytes, 1, "response").unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::CountTooLarge { count: 0x7fff_ffff, .. }));
    assert_eq!(err.field, "MetadataResponse.brokers");
    // Unsupported version.
    let err = MetadataResponse::decode(&mut Reader::new(&Bytes::new()), 99).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::UnsupportedVersion);
    // Trailing bytes after a body are an error.
    let bytes = Bytes::from(hex("00 00 00 00 ff"));
    let err = decode_exact::<HeartbeatResponse>(&bytes, 0, "response");
    assert!(err.is_err());
    // Unknown API key in a request.
    let err = RequestBody::decode(ApiKey(999), 0, &mut Reader::new(&Bytes::new())).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InvalidValue { value: 999 });
}

#[test]
fn request_body_encodes_like_the_message() {
    let req = FindCoordinatorRequest { key: "g".into(), ..Default::default() };
    let body = RequestBody::from(req.clone());
    assert_eq!(body.api_key(), ApiKey::FIND_COORDINATOR);
    let mut a = BytesMut::new();
    body.encode(&mut a, 1).unwrap();
    assert_eq!(a.to_vec(), encode(&req, 1));
    assert_eq!(body.encoded_len(1).unwrap(), a.len());
    let mut b = Vec::new();
    b.put_slice(&a);
    let decoded = RequestBody::decode(ApiKey::FIND_COORDINATOR, 1, &mut Reader::new(&Bytes::from(b))).unwrap();
    assert_eq!(decoded, body);
}

#[test]
fn consumer_protocol_payloads_carry_their_version() {
    use rill_protocol::message::{decode_versioned, encode_versioned};
    let sub = ConsumerProtocolSubscription { topics: vec!["a".into()], user_data: None, generation_id: 4, ..Default::default() };
    let bytes = encode_versioned(&sub, 2).unwrap();
    // version 2, topics ["a"], null user data, no owned partitions, generation 4
    assert_eq!(bytes.to_vec(), hex("00 02 00 00 00 01 00 01 61 ff ff ff ff 00 00 00 00 00 00 00 04"));
    assert_eq!(decode_versioned::<ConsumerProtocolSubscription>(&bytes.freeze()).unwrap(), (2, sub.clone()));
    // A newer version is read with the newest known layout; extra bytes are ignored.
    let mut newer = encode_versioned(&sub, 3).unwrap();
    newer[1] = 9;
    newer.extend_from_slice(&[1, 2, 3]);
    let (v, got) = decode_versioned::<ConsumerProtocolSubscription>(&newer.freeze()).unwrap();
    assert_eq!((v, got), (9, sub));
}

#[test]
fn request_header_is_readable_even_when_the_body_is_not() {
    // ApiVersions v9 (unknown to us): the header still decodes, so a broker can answer.
    let frame = hex("00 12 00 09 00 00 00 07 00 01 63 00 ff");
    let bytes = Bytes::from(frame);
    let mut r = Reader::new(&bytes);
    let header = rill_protocol::message::decode_request_header(&mut r).unwrap();
    assert_eq!((header.request_api_key, header.request_api_version, header.correlation_id), (18, 9, 7));
    assert_eq!(header.client_id.as_deref(), Some("c"));
    let err = decode_request(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::UnsupportedVersion);
}

#[test]
fn unknown_tagged_fields_are_written_sorted() {
    let req = ApiVersionsRequest {
        unknown_tagged_fields: vec![RawTaggedField { tag: 9, data: Bytes::new() }, RawTaggedField { tag: 2, data: Bytes::new() }],
        ..Default::default()
    };
    assert_eq!(encode(&req, 3), hex("01 01 02 02 00 09 00"));
}
