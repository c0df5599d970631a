//! Every listener of the single-node cluster accepts the right credentials
//! and refuses wrong ones, checked with Kafka's Java AdminClient (one JVM for all cases).

use rill_e2e::oauth::TokenKind;
use rill_e2e::{ClientAuth, ClientSettings, KafkaCluster, Listener, SaslMechanism, Secret};

use crate::common::{self, listener_matrix, Expect};

#[test]
fn every_listener_accepts_right_credentials_and_refuses_wrong_ones() {
    let _endpoint = common::oauth_endpoint_in_use();
    let cluster = KafkaCluster::single();
    let outcomes = listener_matrix(cluster);
    common::assert_outcomes(cluster, &outcomes);
}

#[test]
fn oauth_tokens_are_checked_by_the_broker() {
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    let subject = &cluster.credentials().oauth_client_id;
    let token = |kind| ClientAuth::OAuthToken { token: oauth.mint(subject, &["kafka"], kind).expect("mint token") };
    let cases = vec![
        ("minted valid token", token(TokenKind::Valid), Expect::Accept),
        ("expired token", token(TokenKind::Expired), Expect::Refuse("SaslAuthenticationException")),
        ("token signed by an unknown key", token(TokenKind::WrongSignature), Expect::Refuse("SaslAuthenticationException")),
        ("token for another audience", token(TokenKind::WrongAudience), Expect::Refuse("SaslAuthenticationException")),
        ("garbage token", ClientAuth::OAuthToken { token: Secret::new("not.a.jwt") }, Expect::Refuse("SaslAuthenticationException")),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .map(|(name, auth, expect)| (name.to_string(), ClientSettings::new(Listener::SaslSsl).auth(auth), expect))
        .collect();
    let outcomes = common::probe(cluster, &cases);
    common::assert_outcomes(cluster, &outcomes);
}

#[test]
fn token_endpoint_down_means_no_new_oauth_logins() {
    let _endpoint = common::oauth_endpoint_exclusive();
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    let settings = ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::OAuthBearer));
    let issued_before = oauth.tokens_issued();
    oauth.set_available(false).expect("take the token endpoint down");
    let down = common::probe(cluster, &[("endpoint down".to_string(), settings.clone(), Expect::Refuse("Login"))]);
    oauth.set_available(true).expect("bring the token endpoint back");
    let up = common::probe(cluster, &[("endpoint back".to_string(), settings, Expect::Accept)]);
    common::assert_outcomes(cluster, &down);
    common::assert_outcomes(cluster, &up);
    assert!(oauth.tokens_issued() > issued_before, "the Java client never fetched a token from the endpoint");
}

#[test]
fn debug_output_of_the_cluster_hides_secrets() {
    let cluster = KafkaCluster::single();
    let debug = format!("{cluster:?}");
    let credentials = cluster.credentials();
    for secret in [credentials.user.password.expose(), credentials.oauth_client_secret.expose(), cluster.tls().pkcs12_password.expose()] {
        assert!(!debug.contains(secret), "Debug output of KafkaCluster leaks a secret");
    }
    let properties = cluster
        .client_properties(&ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::Plain)))
        .expect("properties");
    assert!(!format!("{properties:?}").contains(credentials.user.password.expose()));
}
