package rill.probe;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;

import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerToken;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerTokenCallback;

/**
 * Client-side OAUTHBEARER login handler that hands the broker a JWT read
 * verbatim from a file, with no client-side validation.
 *
 * Kafka's own login handler checks tokens before sending them, so it cannot
 * send an expired or wrongly signed token; the harness needs exactly that to
 * prove the broker refuses such tokens. JAAS option: tokenFile="/path".
 */
public final class StaticTokenLoginCallbackHandler implements AuthenticateCallbackHandler {
    private String tokenFile;

    @Override
    public void configure(Map<String, ?> configs, String saslMechanism, List<AppConfigurationEntry> jaasConfigEntries) {
        for (AppConfigurationEntry entry : jaasConfigEntries) {
            Object file = entry.getOptions().get("tokenFile");
            if (file != null) {
                tokenFile = file.toString();
            }
        }
        if (tokenFile == null) {
            throw new IllegalArgumentException("StaticTokenLoginCallbackHandler needs the JAAS option tokenFile");
        }
    }

    @Override
    public void handle(Callback[] callbacks) throws UnsupportedCallbackException {
        for (Callback callback : callbacks) {
            if (!(callback instanceof OAuthBearerTokenCallback)) {
                throw new UnsupportedCallbackException(callback);
            }
            final String jwt;
            try {
                jwt = new String(Files.readAllBytes(Paths.get(tokenFile)), StandardCharsets.US_ASCII).trim();
            } catch (java.io.IOException error) {
                throw new IllegalStateException("cannot read token file " + tokenFile, error);
            }
            final long now = System.currentTimeMillis();
            ((OAuthBearerTokenCallback) callback).token(new OAuthBearerToken() {
                @Override public String value() { return jwt; }
                @Override public Set<String> scope() { return Collections.emptySet(); }
                // Claimed lifetime only drives client-side refresh; the broker checks the JWT's own exp.
                @Override public long lifetimeMs() { return now + 3_600_000L; }
                @Override public String principalName() { return "static-token"; }
                @Override public Long startTimeMs() { return now; }
            });
        }
    }

    @Override
    public void close() {
    }
}
