//! A private MIT Kerberos KDC (Debian's krb5-kdc) for the GSSAPI mechanism.
//!
//! Runs `krb5kdc` in the foreground on a free loopback port with its own
//! database, configuration and logs under the cluster directory, so it never
//! touches the machine's `/etc/krb5.conf`. Principals and keytabs are made
//! with `kadmin.local` against that database.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Context, HarnessError, Result};
use crate::ports::free_port;
use crate::process;
use crate::secret::Secret;

pub const REALM: &str = "RILL.TEST";

/// Debian puts the KDC tools in /usr/sbin, which is not on every PATH.
fn tool(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// The running KDC. Dropping it kills `krb5kdc`.
#[derive(Debug)]
pub struct Kdc {
    dir: PathBuf,
    port: u16,
    krb5_conf: PathBuf,
    kdc_conf: PathBuf,
    master_password: Secret,
    child: Mutex<Option<Child>>,
}

impl Kdc {
    /// Creates a realm database under `dir` and starts the KDC.
    pub fn start(dir: &Path) -> Result<Kdc> {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        for binary in ["krb5kdc", "kdb5_util", "kadmin.local"] {
            if Command::new(tool(binary)).arg("-?").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
                return Err(HarnessError::new(format!(
                    "Kerberos tool `{binary}` not found: install krb5-kdc, krb5-admin-server and krb5-user \
                     (run tests/scripts/provision.sh)"
                )));
            }
        }
        let port = free_port()?;
        let dir = dir.to_path_buf();
        let krb5_conf = dir.join("krb5.conf");
        let kdc_conf = dir.join("kdc.conf");
        let enctypes = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
        let d = dir.display();
        std::fs::write(
            &krb5_conf,
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
                 rdns = false\n udp_preference_limit = 1\n ticket_lifetime = 24h\n forwardable = true\n \
                 default_tkt_enctypes = {enctypes}\n default_tgs_enctypes = {enctypes}\n permitted_enctypes = {enctypes}\n\
                 \n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n  admin_server = 127.0.0.1:{port}\n }}\n\
                 \n[domain_realm]\n localhost = {REALM}\n .localhost = {REALM}\n 127.0.0.1 = {REALM}\n"
            ),
        )
        .context(|| format!("writing {}", krb5_conf.display()))?;
        std::fs::write(
            &kdc_conf,
            format!(
                "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 \n[realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
                 acl_file = {d}/kadm5.acl\n  admin_keytab = FILE:{d}/kadm5.keytab\n  \
                 kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n  \
                 max_life = 24h 0m 0s\n  max_renewable_life = 7d 0h 0m 0s\n  \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n  \
                 default_principal_flags = +preauth\n }}\n\
                 \n[logging]\n kdc = FILE:{d}/kdc.log\n admin_server = FILE:{d}/kadmin.log\n default = FILE:{d}/krb5.log\n"
            ),
        )
        .context(|| format!("writing {}", kdc_conf.display()))?;
        std::fs::write(dir.join("kadm5.acl"), format!("*/admin@{REALM} *\n")).context(|| "writing kadm5.acl".to_string())?;
        let kdc = Kdc { dir, port, krb5_conf, kdc_conf, master_password: Secret::new("rill-kdc-master"), child: Mutex::new(None) };
        let mut create = kdc.command("kdb5_util");
        create.args(["-r", REALM, "-P", kdc.master_password.expose(), "create", "-s"]);
        run(create, "kdb5_util create (Kerberos realm database)")?;
        let mut start = kdc.command("krb5kdc");
        start.args(["-n", "-r", REALM]);
        let log = std::fs::File::create(kdc.dir.join("krb5kdc.stdout.log")).context(|| "creating the KDC log".to_string())?;
        start.stdout(log.try_clone().context(|| "duplicating the KDC log handle".to_string())?).stderr(log);
        let child = process::spawn_tied(start).context(|| "starting krb5kdc".to_string())?;
        *kdc.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        kdc.wait_listening(Duration::from_secs(10))?;
        Ok(kdc)
    }

    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(tool(binary));
        command.env("KRB5_CONFIG", &self.krb5_conf).env("KRB5_KDC_PROFILE", &self.kdc_conf);
        command
    }

    fn wait_listening(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(HarnessError::new(format!("krb5kdc exited with {status}; see {}", self.dir.join("kdc.log").display())));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(HarnessError::new(format!("krb5kdc did not listen on 127.0.0.1:{} within {timeout:?}", self.port)))
    }

    /// The krb5.conf that clients and brokers must use (`-Djava.security.krb5.conf`, `KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> &Path {
        &self.krb5_conf
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn realm(&self) -> &'static str {
        REALM
    }

    /// Runs one `kadmin.local` query against this realm.
    pub fn kadmin(&self, query: &str) -> Result<String> {
        let mut command = self.command("kadmin.local");
        command.args(["-r", REALM, "-q", query]);
        run(command, &format!("kadmin.local -q {query:?}"))
    }

    /// Creates `principal` with a random key and writes its keytab to `keytab`.
    pub fn add_principal(&self, principal: &str, keytab: &Path) -> Result<()> {
        self.kadmin(&format!("addprinc -randkey {principal}"))?;
        self.export_keytab(principal, keytab)
    }

    /// Writes a keytab for `principal`. This re-keys the principal, so keytabs
    /// exported earlier become stale (wrong key version): handy for negative tests.
    pub fn export_keytab(&self, principal: &str, keytab: &Path) -> Result<()> {
        let _ = std::fs::remove_file(keytab);
        self.kadmin(&format!("ktadd -k {} {principal}", keytab.display()))?;
        if !keytab.exists() {
            return Err(HarnessError::new(format!("kadmin.local did not write {}", keytab.display())));
        }
        Ok(())
    }

    pub fn delete_principal(&self, principal: &str) -> Result<()> {
        self.kadmin(&format!("delprinc -force {principal}")).map(|_| ())
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            process::kill_and_reap(&mut child);
        }
    }
}

fn run(mut command: Command, what: &str) -> Result<String> {
    let output = command.output().context(|| format!("running {what}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // kadmin.local reports most errors on stderr with exit status 0.
    if !output.status.success() || stderr.lines().any(|line| line.contains("while ") || line.contains("error")) {
        return Err(HarnessError::new(format!("{what} failed ({}): {stdout}{stderr}", output.status)));
    }
    Ok(stdout)
}
