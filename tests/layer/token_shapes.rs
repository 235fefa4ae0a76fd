//! Well-known credential shapes (gitleaks' rule set as the reference), one
//! test per shape: planted in a message, plain and label fields, Debug
//! values, a Debug struct and span fields, no piece of the secret reaches the
//! day files or the exposition, and the message reads exactly as expected.
//! Secret field names follow one rule, inside strings and as fields alike;
//! ordinary pipeline content comes through byte-identical.

use crate::common;
use crate::secrets_never_leak::plant_everywhere;

use std::borrow::Cow;

use common::*;
use evt_telemetry::{REDACTED, Redactor};
use proptest::prelude::*;
use tracing::info;

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const WORD: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &str = "0123456789abcdef";
const AWS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `len` characters of `chars`, seeded by `seed` (distinct per test).
fn body(chars: &str, len: usize, seed: &str) -> String {
    let chars = chars.as_bytes();
    let mut x = seed.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x % chars.len() as u64) as usize] as char
        })
        .collect()
}

/// Plants `secret` everywhere and checks that none of `pieces` (nor their
/// first and last 8 characters) survives, and that the message
/// `call failed with <secret> (retrying)` reads `… <redacted> …` exactly.
fn never_leaks(secret: &str, pieces: &[&str], redacted: &str) {
    let message = format!("call failed with {secret} (retrying)");
    never_leaks_in(
        &message,
        pieces,
        &format!("call failed with {redacted} (retrying)"),
    );
}

/// [`never_leaks`] with the whole message and its expected redaction.
fn never_leaks_in(message: &str, pieces: &[&str], want: &str) {
    let message = message.to_owned();
    let planted = plant_everywhere(std::slice::from_ref(&message));
    for piece in pieces {
        let cuts = [*piece, &piece[..8], &piece[piece.len() - 8..]];
        for cut in cuts {
            assert!(
                !planted.files.contains(cut),
                "{cut} leaked into the files:\n{}",
                planted.files
            );
            assert!(
                !planted.exposition.contains(cut),
                "{cut} leaked into /metrics:\n{}",
                planted.exposition
            );
        }
    }
    let line = planted
        .files
        .lines()
        .find(|l| l.contains(r#""level":"error""#))
        .expect("the error line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["msg"], want, "{line}");
}

/// A prefixed token: `prefix` then `len` characters of `chars`, redacted whole.
fn prefixed(prefix: &str, chars: &str, len: usize, seed: &str) {
    let b = body(chars, len, seed);
    never_leaks(&format!("{prefix}{b}"), &[&b], REDACTED);
}

macro_rules! prefixed_shapes {
    ($($name:ident: $prefix:expr, $chars:expr, $len:expr;)*) => {$(
        #[test]
        fn $name() {
            prefixed($prefix, $chars, $len, stringify!($name));
        }
    )*};
}

prefixed_shapes! {
    github_personal_access_token: "ghp_", ALNUM, 36;
    github_oauth_token: "gho_", ALNUM, 36;
    github_user_to_server_token: "ghu_", ALNUM, 36;
    github_server_to_server_token: "ghs_", ALNUM, 36;
    github_refresh_token: "ghr_", ALNUM, 36;
    github_fine_grained_pat: "github_pat_", WORD, 82;
    gitlab_personal_access_token: "glpat-", KEY, 20;
    gitlab_pipeline_trigger_token: "glptt-", HEX, 40;
    gitlab_deploy_token: "gldt-", KEY, 20;
    gitlab_runner_token: "glrt-", KEY, 20;
    gitlab_runner_registration_token: "GR1348941", KEY, 20;
    gitlab_feed_token: "glft-", KEY, 20;
    gitlab_ci_job_token: "glcbt-", KEY, 26;
    gitlab_oauth_app_secret: "gloas-", KEY, 64;
    slack_bot_token: "xoxb-", KEY, 50;
    slack_user_token: "xoxp-", KEY, 70;
    slack_workspace_token: "xoxa-", KEY, 40;
    slack_refresh_token: "xoxr-", KEY, 40;
    slack_legacy_token: "xoxs-", KEY, 60;
    slack_app_token: "xapp-", KEY, 80;
    aws_access_key_id: "AKIA", AWS, 16;
    aws_temporary_access_key_id: "ASIA", AWS, 16;
    aws_bearer_token_id: "ABIA", AWS, 16;
    aws_context_access_key_id: "ACCA", AWS, 16;
    google_api_key: "AIza", KEY, 35;
    google_oauth_client_secret: "GOCSPX-", KEY, 28;
    google_oauth_access_token: "ya29.", KEY, 120;
    stripe_live_secret_key: "sk_live_", ALNUM, 99;
    stripe_test_secret_key: "sk_test_", ALNUM, 99;
    stripe_live_restricted_key: "rk_live_", ALNUM, 99;
    stripe_test_restricted_key: "rk_test_", ALNUM, 99;
    stripe_webhook_secret: "whsec_", ALNUM, 32;
    openai_project_key: "sk-proj-", KEY, 156;
    openai_service_account_key: "sk-svcacct-", KEY, 156;
    openai_legacy_key: "sk-", ALNUM, 48;
    anthropic_api_key: "sk-ant-api03-", KEY, 95;
    anthropic_admin_key: "sk-ant-admin01-", KEY, 95;
    openrouter_api_key: "sk-or-v1-", HEX, 64;
    deepseek_api_key: "sk-", HEX, 32;
    huggingface_token: "hf_", ALNUM, 34;
    huggingface_org_token: "api_org_", ALNUM, 34;
    perplexity_api_key: "pplx-", ALNUM, 48;
    groq_api_key: "gsk_", ALNUM, 52;
    xai_api_key: "xai-", ALNUM, 80;
    replicate_api_token: "r8_", ALNUM, 37;
    fireworks_api_key: "fw_", ALNUM, 24;
    langsmith_api_key: "lsv2_pt_", ALNUM, 40;
    npm_access_token: "npm_", ALNUM, 36;
    pypi_upload_token: "pypi-AgEIcHlwaS5vcmc", KEY, 140;
    rubygems_api_key: "rubygems_", HEX, 48;
    docker_hub_pat: "dckr_pat_", KEY, 27;
    clojars_token: "CLOJARS_", LOWER_ALNUM, 60;
    circleci_personal_token: "CCIPAT_", WORD, 63;
    circleci_project_token: "CCIPRJ_", WORD, 63;
    twilio_api_key: "SK", HEX, 32;
    sendgrid_api_key: "SG.", KEY, 66;
    mailgun_api_key: "key-", HEX, 32;
    brevo_api_key: "xkeysib-", KEY, 81;
    shopify_access_token: "shpat_", HEX, 32;
    shopify_shared_secret: "shpss_", HEX, 32;
    digitalocean_pat: "dop_v1_", HEX, 64;
    digitalocean_oauth_token: "doo_v1_", HEX, 64;
    linear_api_key: "lin_api_", ALNUM, 40;
    postman_api_key: "PMAK-", KEY, 59;
    grafana_service_account_token: "glsa_", WORD, 41;
    grafana_cloud_token: "glc_", B64, 64;
    new_relic_user_key: "NRAK-", UPPER, 27;
    sentry_user_token: "sntryu_", HEX, 64;
    vault_service_token: "hvs.", KEY, 95;
    doppler_token: "dp.pt.", ALNUM, 43;
    pulumi_token: "pul-", HEX, 40;
    heroku_api_key: "HRKU-AA", KEY, 58;
    flyio_token: "fo1_", KEY, 43;
    planetscale_token: "pscale_tkn_", KEY, 43;
    artifactory_api_key: "AKCp", ALNUM, 69;
    alibaba_access_key_id: "LTAI", ALNUM, 20;
    prefect_api_key: "pnu_", ALNUM, 36;
    notion_token: "ntn_", ALNUM, 46;
    square_access_token: "sq0atp-", KEY, 22;
    age_secret_key: "AGE-SECRET-KEY-1", UPPER, 58;
    supabase_token: "sbp_", HEX, 40;
    gitlab_scim_token: "glsoat-", KEY, 20;
    gitlab_agent_token: "glagent-", KEY, 50;
    gitlab_incoming_mail_token: "glimt-", KEY, 25;
    gitlab_feature_flag_token: "glffct-", KEY, 20;
    slack_legacy_bot_token: "xoxo-", KEY, 40;
    slack_config_access_token: "xoxe.xoxp-1-", UPPER, 163;
    slack_config_refresh_token: "xoxe-1-", UPPER, 146;
    aws_a3t_access_key_id: "A3TX", AWS, 16;
    stripe_prod_secret_key: "sk_prod_", ALNUM, 40;
    stripe_prod_restricted_key: "rk_prod_", ALNUM, 40;
    shopify_custom_app_token: "shpca_", HEX, 32;
    shopify_private_app_token: "shppa_", HEX, 32;
    digitalocean_refresh_token: "dor_v1_", HEX, 64;
    sentry_org_token: "sntrys_eyJpYXQiO", B64, 120;
    vault_batch_token: "hvb.", KEY, 140;
    easypost_api_key: "EZAK", ALNUM, 54;
    easypost_test_key: "EZTK", ALNUM, 54;
    readme_api_key: "rdme_", LOWER_ALNUM, 70;
    scalingo_token: "tk-us-", KEY, 48;
    shippo_live_token: "shippo_live_", HEX, 40;
    duffel_test_token: "duffel_test_", KEY, 43;
    sourcegraph_token: "sgp_", HEX, 40;
    square_oauth_secret: "sq0csp-", KEY, 43;
    onepassword_service_account_token: "ops_eyJ", B64, 250;
    typeform_token: "tfp_", KEY, 59;
    supabase_secret_key: "sb_secret_", KEY, 32;
    planetscale_password: "pscale_pw_", KEY, 43;
}

#[test]
fn dynatrace_token() {
    let (a, b) = (body(UPPER, 24, "dt-a"), body(UPPER, 64, "dt-b"));
    never_leaks(&format!("dt0c01.{a}.{b}"), &[&a, &b], REDACTED);
}

#[test]
fn bare_jwt() {
    let (p, s) = (body(ALNUM, 60, "jwt-p"), body(KEY, 43, "jwt-s"));
    let jwt = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{p}.{s}");
    never_leaks(&jwt, &[&p, &s], REDACTED);
}

#[test]
fn pem_rsa_private_key_block() {
    let (a, b) = (body(B64, 64, "pem-a"), body(B64, 40, "pem-b"));
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{a}\n{b}==\n-----END RSA PRIVATE KEY-----");
    never_leaks(
        &pem,
        &[&a, &b],
        "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----",
    );
}

#[test]
fn pem_openssh_private_key_block_cut_before_its_end() {
    let a = body(B64, 70, "ssh-a");
    let pem = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{a}");
    // Without an END line the rest of the text is the key.
    never_leaks_in(
        &format!("loading {pem}\n(cut)"),
        &[&a],
        "loading -----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]",
    );
}

#[test]
fn token_as_url_user() {
    let t = body(ALNUM, 40, "url-token");
    never_leaks(
        &format!("https://{t}@github.com/org/repo.git"),
        &[&t],
        "https://[REDACTED]@github.com/org/repo.git",
    );
}

#[test]
fn token_as_url_password() {
    let t = body(ALNUM, 40, "url-password");
    never_leaks(
        &format!("https://x-access-token:{t}@github.com/org/repo.git"),
        &[&t],
        "https://x-access-token:[REDACTED]@github.com/org/repo.git",
    );
}

#[test]
fn session_id_query_parameter() {
    let t = body(ALNUM, 32, "session-id");
    never_leaks(
        &format!("GET /v1/jobs?session_id={t}&page=2"),
        &[&t],
        "GET /v1/jobs?session_id=[REDACTED]&page=2",
    );
}

#[test]
fn access_token_query_parameter() {
    let t = body(KEY, 32, "access-token");
    never_leaks(
        &format!("https://graph.example.com/me?access_token={t}"),
        &[&t],
        "https://graph.example.com/me?access_token=[REDACTED]",
    );
}

#[test]
fn pgpassword_variable() {
    let t = body(ALNUM, 24, "pgpassword");
    never_leaks(
        &format!("PGPASSWORD={t} psql -h db"),
        &[&t],
        "PGPASSWORD=[REDACTED] psql -h db",
    );
}

#[test]
fn password_command_line_option() {
    let t = body(ALNUM, 24, "password-option");
    never_leaks(
        &format!("pg_dump --password {t} --host db"),
        &[&t],
        "pg_dump --password [REDACTED] --host db",
    );
}

#[test]
fn api_key_command_line_option_quoted() {
    let t = body(ALNUM, 24, "api-key-option");
    never_leaks(
        &format!("run.sh --api-key '{t}' -v"),
        &[&t],
        "run.sh --api-key '[REDACTED]' -v",
    );
}

#[test]
fn slack_webhook_url() {
    let t = body(ALNUM, 24, "slack-hook");
    never_leaks(
        &format!("https://hooks.slack.com/services/T0123ABCD/B0123ABCD/{t}"),
        &[&t],
        "https://hooks.slack.com/services/[REDACTED]",
    );
}

#[test]
fn discord_webhook_url() {
    let t = body(KEY, 68, "discord-hook");
    never_leaks(
        &format!("https://discord.com/api/webhooks/123456789012345678/{t}"),
        &[&t],
        "https://discord.com/api/webhooks/[REDACTED]",
    );
}

#[test]
fn discord_bot_token() {
    let (id, mac) = (body(ALNUM, 23, "discord-id"), body(KEY, 38, "discord-mac"));
    never_leaks(&format!("M{id}.GhT3xq.{mac}"), &[&id, &mac], REDACTED);
}

#[test]
fn telegram_bot_token() {
    let t = body(KEY, 33, "telegram");
    never_leaks(&format!("1234567890:AA{t}"), &[&t], REDACTED);
}

#[test]
fn telegram_bot_api_url() {
    let t = body(KEY, 33, "telegram-url");
    never_leaks(
        &format!("https://api.telegram.org/bot123456789:AA{t}/sendMessage"),
        &[&t],
        "https://api.telegram.org/bot[REDACTED]/sendMessage",
    );
}

#[test]
fn azure_ad_client_secret() {
    let t = body(KEY, 34, "azure-secret");
    never_leaks(&format!("abc8Q~{t}"), &[&t], REDACTED);
}

#[test]
fn azure_openai_api_key_header() {
    let t = body(HEX, 32, "azure-key");
    never_leaks(&format!("api-key: {t}"), &[&t], "api-key: [REDACTED]");
}

#[test]
fn azure_storage_account_key() {
    let t = body(B64, 86, "azure-storage");
    never_leaks(
        &format!(
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey={t}==;EndpointSuffix=core.windows.net"
        ),
        &[&t],
        "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=[REDACTED];EndpointSuffix=core.windows.net",
    );
}

// === names ===

/// Names the issue found logged in clear, and the rest of the rule.
const SECRET_NAMES: [&str; 16] = [
    "openrouter_key",
    "aws_secret_access_key",
    "secretKey",
    "auth",
    "credentials",
    "private_key",
    "passphrase",
    "session",
    "session_id",
    "pwd",
    "PGPASSWORD",
    "X-Api-Key",
    "db.password",
    "accessToken",
    "Proxy-Authorization",
    "key",
];

#[test]
fn a_secret_name_is_secret_as_a_field_and_inside_strings_alike() {
    let r = Redactor::default();
    for name in SECRET_NAMES {
        assert_eq!(r.redact_field(name, "v4lue"), REDACTED, "field {name}");
        for (text, want) in [
            (format!("{name}=v4lue x"), format!("{name}=[REDACTED] x")),
            (format!("{name}: v4lue"), format!("{name}: [REDACTED]")),
            (
                format!(r#"{{"{name}":"v4lue"}}"#),
                format!(r#"{{"{name}":"[REDACTED]"}}"#),
            ),
            (format!("--{name} v4lue"), format!("--{name} [REDACTED]")),
        ] {
            if text.starts_with("--")
                && !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                continue; // not an option name
            }
            assert_eq!(r.redact(&text), want, "{text}");
        }
    }
    for name in [
        "max_tokens",
        "tokens",
        "monkey",
        "author",
        "oauth",
        "keys",
        "key_count",
        "sessions",
    ] {
        assert_eq!(r.redact_field(name, "v4lue"), "v4lue", "field {name}");
        assert_eq!(r.redact(&format!("{name}=v4lue")), format!("{name}=v4lue"));
    }
}

#[test]
fn fields_with_secret_names_are_redacted_in_the_day_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock), || {
        info!(
            evt = "names",
            openrouter_key = "v1",
            aws_secret_access_key = "v2",
            secretKey = "v3",
            auth = "v4",
            credentials = "v5",
            private_key = "v6",
            passphrase = "v7",
            session_id = "v8",
            pwd = 9,
            model = "m",
            "openrouter_key=v1 secretKey: v3"
        );
    });
    let got = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(
        got,
        [concat!(
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"names","source":"layer::token_shapes","#,
            r#""msg":"openrouter_key=[REDACTED] secretKey: [REDACTED]","meta":{"openrouter_key":"[REDACTED]","#,
            r#""aws_secret_access_key":"[REDACTED]","secretKey":"[REDACTED]","auth":"[REDACTED]","#,
            r#""credentials":"[REDACTED]","private_key":"[REDACTED]","passphrase":"[REDACTED]","#,
            r#""session_id":"[REDACTED]","pwd":"[REDACTED]","model":"m"}}"#
        )]
    );
}

// === no false positives ===

/// Ordinary pipeline content: none of it is a secret.
const ORDINARY: [&str; 32] = [
    "deepseek/deepseek-v3.2-exp",
    "anthropic/claude-sonnet-4.5",
    "openai/gpt-4o-mini-2024-07-18",
    "google/gemini-2.5-pro",
    "meta-llama/llama-3.1-405b-instruct",
    "2510.01234",
    "arXiv:2510.01234v2",
    "chinaxiv-202510.00012",
    "https://arxiv.org/abs/2510.01234",
    "https://arxiv.org/pdf/2510.01234v2.pdf",
    "https://openrouter.ai/api/v1/chat/completions",
    "https://example.com:8443/a/b?page=2&lang=en#top",
    "550e8400-e29b-41d4-a716-446655440000",
    "550E8400-E29B-41D4-A716-446655440000",
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "img_5f3c2a9e8b7d4c1a.png",
    "/data/telemetry/events-2025-10-06.jsonl",
    "/home/app/papers/2510.01234/figures/fig_3.pdf",
    "C:\\Users\\app\\papers\\2510.01234.tex",
    "429 Rate limit exceeded for deepseek/deepseek-v3.2-exp, retrying in 2 s",
    "translated 1,234 of 5,678 segments (21.7 %) in 12.5 s",
    "2025-10-06T13:43:10.123Z",
    "2025-10-06 13:43:10+00:00",
    "-1.5e-7",
    "translation_service",
    "rate_limited",
    "SKIP_TRANSLATION",
    "ASIAN_LANGUAGES",
    "Section 3.2: Results, Table 4",
];

#[test]
fn ordinary_pipeline_content_comes_through_byte_identical() {
    let r = Redactor::default();
    for text in ORDINARY {
        assert!(
            matches!(r.redact(text), Cow::Borrowed(t) if t == text),
            "{text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock), || {
        for text in ORDINARY {
            info!(evt = "ordinary", value = text, debug = ?text, "{text}");
        }
    });
    let got = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(got.len(), ORDINARY.len());
    for (line, text) in got.iter().zip(ORDINARY) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["msg"], text, "{line}");
        assert_eq!(v["meta"]["value"], text, "{line}");
        assert_eq!(v["meta"]["debug"], format!("{text:?}"), "{line}");
    }
}

/// Shapes of ordinary content, generated.
fn ordinary() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{3,12}/[a-z]{3,12}-v?[0-9](\\.[0-9])?(-[a-z]{2,5})?",
        "[0-9]{4}\\.[0-9]{5}(v[0-9])?",
        "chinaxiv-[0-9]{6}\\.[0-9]{5}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-f]{40}",
        "[0-9a-f]{64}",
        "https://[a-z]{3,10}\\.(org|com|ai)(/[a-z0-9.]{1,12}){0,4}(\\?[a-z]{1,6}=[0-9]{1,4})?",
        "(/[a-z_]{1,10}){1,5}\\.(json|jsonl|pdf|png)",
        "-?[0-9]{1,9}(\\.[0-9]{1,6})?",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z",
        "[a-z]{3,12}(_[a-z]{3,12}){0,3}",
        "[A-Z][a-z]{2,10}( [a-z]{2,10}){0,6}[.!]?",
    ]
}

proptest! {
    #[test]
    fn generated_ordinary_content_is_returned_unchanged(parts in prop::collection::vec(ordinary(), 1..5)) {
        let text = parts.join(" ");
        let r = Redactor::default();
        prop_assert!(matches!(r.redact(&text), Cow::Borrowed(t) if t == text), "{}", text);
    }
}

/// Shapes planted in arbitrary text (the `redact` fuzz target's check, for
/// when cargo-fuzz is not at hand): each embeds a 24-character body.
const PLANTED: [fn(&str) -> String; 16] = [
    |b| format!("ghp_{b}012345678901"),
    |b| format!("github_pat_{b}{b}{b}0123456789"),
    |b| format!("glpat-{b}"),
    |b| format!("xoxb-123-456-{b}"),
    |b| format!("AIza{b}01234567890"),
    |b| format!("sk_live_{b}"),
    |b| format!("eyJhbGciOiJIUzI1NiJ9.eyJ{b}.{b}"),
    |b| format!("-----BEGIN RSA PRIVATE KEY-----\n{b}\n-----END RSA PRIVATE KEY-----"),
    |b| format!("https://{b}@github.com/o/r.git"),
    |b| format!("/v1/jobs?session_id={b}&page=2"),
    |b| format!("PGPASSWORD={b} psql"),
    |b| format!("--password {b}"),
    |b| format!("sk-ant-api03-{b}"),
    |b| format!("123456789:AA{b}012345678"),
    |b| format!("MTA0OTg2NzQxMjM0NTY3ODkw.GhT3xq.{b}0123456789ab"),
    |b| format!("Config {{ secretKey: \"{b}\" }}"),
];

proptest! {
    #[test]
    fn planted_token_shapes_never_survive_in_arbitrary_text(
        prefix in "(?s).{0,40}", suffix in "(?s).{0,40}",
        b in "[A-Za-z0-9]{24}", shape in 0..PLANTED.len(),
    ) {
        prop_assume!(!prefix.contains(&b[..8]) && !suffix.contains(&b[..8]));
        let text = format!("{prefix} {} {suffix}", PLANTED[shape](&b));
        let out = Redactor::default().redact(&text).into_owned();
        prop_assert!(!out.contains(&b[..8]), "{} -> {}", text, out);
    }
}
