use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, &no_env)
}

#[test]
fn example_parses_to_guide_defaults() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.levels, Levels::default());
    assert_eq!(config.defaults, Defaults::default());
    assert_eq!(config.agent, AgentConfig::default());
    assert_eq!(config.targets.len(), 1);
    let t = &config.targets[0];
    assert_eq!(t.name, "one-api");
    assert_eq!(t.source, SourceKind::Auto);
    assert_eq!(t.interval, Duration::from_secs(30));
}

#[test]
fn empty_file_is_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn every_mistake_is_reported_with_line_value_and_fix() {
    let text = r#"
[agent]
log_intervl = "30s"

[defaults]
interval = "fast"

[[targets]]
url = "ftp://example.com"

[[targets]]
name = "b"
url = "http://127.0.0.1:3000"
source = "grafana"
timeout = 5
interval = "2s"
password = "x"
"#;
    let errs = parse(text).unwrap_err().0;
    let text_of = |path: &str| {
        errs.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error for {path}: {errs:#?}"))
            .clone()
    };
    let e = text_of("agent.log_intervl");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("did you mean 'log_interval'"), "{e}");
    let e = text_of("defaults.interval");
    assert_eq!(e.line, 6);
    assert!(
        e.message.contains("'fast'") && e.message.contains("'30s'"),
        "{e}"
    );
    let e = text_of("targets[0].url");
    assert!(
        e.message.contains("'ftp'") && e.message.contains("http"),
        "{e}"
    );
    let e = text_of("targets[1].source");
    assert!(
        e.message.contains("'grafana'") && e.message.contains("prometheus"),
        "{e}"
    );
    let e = text_of("targets[1].timeout");
    assert!(
        e.message.contains("'5s'") && e.message.contains("'2s'"),
        "{e}"
    );
    assert!(text_of("targets[1].password").message.contains("username"));
    assert_eq!(errs.len(), 6, "{errs:#?}");
    // Sorted in file order.
    assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn syntax_error_has_a_position() {
    let errs = parse("[agent\nx = 1").unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 1);
    assert!(errs[0].message.contains("not valid TOML"));
}

#[test]
fn type_errors_are_collected_too() {
    let errs = parse("[levels]\nwarning = \"lots\"\nurgent = -5\ngoroutines = [1, 2]\n")
        .unwrap_err()
        .0;
    assert!(errs
        .iter()
        .any(|e| e.path == "levels.warning" && e.message.contains("'lots'")));
    assert!(errs
        .iter()
        .any(|e| e.path == "levels.urgent" && e.message.contains("'-5'")));
    assert!(errs
        .iter()
        .any(|e| e.path == "levels.goroutines" && e.message.contains("5 rising")));
}

#[test]
fn secrets_come_from_the_environment_and_never_print() {
    let env = |k: &str| (k == "PW").then(|| "hunter2".to_string());
    let text = "[[targets]]\nurl = \"http://h:1\"\nusername = \"u\"\npassword = \"${PW}\"\n";
    let config = Config::parse(text, &env).unwrap();
    assert_eq!(
        config.targets[0].auth,
        Some(Auth::Basic {
            username: "u".into(),
            password: "hunter2".into()
        })
    );
    assert!(!format!("{config:?}").contains("hunter2"));
    let errs = parse(text).unwrap_err().0;
    assert!(errs[0].message.contains("'PW' is not set"), "{}", errs[0]);
}

#[test]
fn duplicate_names_and_missing_url() {
    let errs = parse("[[targets]]\nname = \"a\"\nurl = \"h:1\"\n[[targets]]\nname = \"a\"\nurl = \"h:2\"\n[[targets]]\nname = \"c\"\n")
        .unwrap_err()
        .0;
    assert!(errs
        .iter()
        .any(|e| e.message.contains("'a' is already the name")));
    assert!(errs.iter().any(|e| e.message.contains("needs a 'url'")));
}

#[test]
fn look_alike_fields_and_process() {
    let text = "[[targets]]\nurl = \"http://h:1/status\"\nsource = \"health\"\nprocess = \"one-api\"\n[targets.fields]\ngoroutines = \"/data/g\"\n";
    let t = &parse(text).unwrap().targets[0];
    assert_eq!(t.fields.goroutines, "/data/g");
    assert_eq!(t.fields.alloc_mb, "/memory/alloc_mb");
    assert_eq!(t.process, Some(ProcessSelector::Name("one-api".into())));
    assert_eq!(t.name, "h:1");
}

#[test]
fn urls_on_the_command_line() {
    let c = Config::for_urls(&[
        "127.0.0.1:3000".into(),
        "http://127.0.0.1:3000/debug/vars".into(),
        "pid:42".into(),
    ])
    .unwrap();
    assert_eq!(
        c.targets[0].url.as_ref().unwrap().as_str(),
        "http://127.0.0.1:3000/"
    );
    assert_eq!(c.targets[0].source, SourceKind::Auto);
    assert_eq!(c.targets[1].source, SourceKind::Expvar);
    assert_eq!(c.targets[1].name, "127.0.0.1:3000#2");
    assert_eq!(c.targets[2].process, Some(ProcessSelector::Pid(42)));
    assert!(Config::for_urls(&["pid:x".into()])
        .unwrap_err()
        .contains("'pid:x'"));
    assert!(Config::for_urls(&["ftp://x".into()])
        .unwrap_err()
        .contains("'ftp'"));
}

#[test]
fn notifiers_are_read_with_secrets_expanded() {
    let env = |k: &str| (k == "DING_SECRET").then(|| "SEC123".to_string());
    let text = "[[notifiers]]\nname = \"ding\"\ntype = \"dingtalk\"\nurl = \"http://127.0.0.1:1/robot/send?access_token=t\"\nsecret = \"${DING_SECRET}\"\nat_mobiles = [\"138\"]\n\n[[notifiers]]\nname = \"mail\"\ntype = \"email\"\nport = 587\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n";
    let config = Config::parse(text, &env).unwrap();
    assert_eq!(config.notifiers.len(), 2);
    let ding = &config.notifiers[0];
    assert_eq!(
        (ding.name.as_str(), ding.kind(), ding.line),
        ("ding", "dingtalk", 1)
    );
    let ChannelConfig::DingTalk(d) = &ding.channel else {
        panic!("{ding:?}")
    };
    assert_eq!(d.secret.as_ref().map(|s| s.expose()), Some("SEC123"));
    assert_eq!(d.at_mobiles, ["138"]);
    let ChannelConfig::Email(mail) = &config.notifiers[1].channel else {
        panic!("{config:?}")
    };
    assert_eq!(mail.port, Some(587));
    assert_eq!(config.notifiers[1].line, 8);
    assert!(!format!("{config:?}").contains("SEC123"));
    assert!(!toml::to_string(&config)
        .unwrap_or_default()
        .contains("SEC123"));
    assert!(!format!("{:?}", config.notifiers[0]).contains("SEC123"));
}

#[test]
fn notifier_mistakes_are_all_reported() {
    let text = "[[notifiers]]\ntype = \"slack\"\n\n[[notifiers]]\nname = \"a\"\ntype = \"wecom\"\nkey = \"${MISSING}\"\n\n[[notifiers]]\nname = \"b\"\ntype = \"slack\"\n[[notifiers]]\nname = \"b\"\ntype = \"slack\"\n";
    let errs = parse(text).unwrap_err().0;
    assert!(
        errs.iter()
            .any(|e| e.path == "notifiers[0]" && e.message.contains("needs a 'name' and a 'type'")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.path == "notifiers[1].key"
            && e.message.contains("'MISSING' is not set")
            && e.line == 7),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e
            .message
            .contains("'b' is already the name of another notifier")),
        "{errs:#?}"
    );
}

#[test]
fn container_targets_and_docker_host() {
    let c = parse(
        r#"
[agent]
docker_host = "unix:///run/podman/podman.sock"

[[targets]]
name = "one-api"
url = "http://127.0.0.1:3000"
container = "one-api"

[[targets]]
container = "worker-1"
"#,
    )
    .unwrap();
    assert_eq!(
        c.agent.docker_host.as_deref(),
        Some("unix:///run/podman/podman.sock")
    );
    let joined = &c.targets[0];
    assert!(joined.url.is_some());
    assert_eq!(
        joined.container,
        Some(ContainerSource {
            name: "one-api".into(),
            docker_host: Some("unix:///run/podman/podman.sock".into()),
        })
    );
    // A container alone is a target, named after the container.
    assert_eq!(c.targets[1].name, "worker-1");
    assert_eq!(c.targets[1].url, None);
    assert_eq!(
        c.targets[1].container.as_ref().map(|s| s.name.as_str()),
        Some("worker-1")
    );
    // No docker_host: left to $DOCKER_HOST / the default socket at run time.
    let c = parse("[[targets]]\ncontainer = \"x\"\n").unwrap();
    assert_eq!(c.targets[0].container.as_ref().unwrap().docker_host, None);
}

#[test]
fn container_mistakes_have_positions_and_fixes() {
    let err =
        parse("[agent]\ndocker_host = \"tcp://10.0.0.1:2375\"\n\n[[targets]]\ncontainer = \"\"\n")
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("2:15: agent.docker_host: 'tcp://10.0.0.1:2375' is not a unix socket URL; write e.g. \"unix:///var/run/docker.sock\""),
        "{err}"
    );
    assert!(
        err.contains("5:13: targets[0].container: '' names no container"),
        "{err}"
    );
}

#[test]
fn container_specs_on_the_command_line() {
    let c =
        Config::for_urls(&["container:one-api".into(), "http://127.0.0.1:3000".into()]).unwrap();
    assert_eq!(c.targets[0].name, "one-api");
    assert_eq!(c.targets[0].url, None);
    assert_eq!(
        c.targets[0].container,
        Some(ContainerSource {
            name: "one-api".into(),
            docker_host: None
        })
    );
    assert_eq!(c.targets[1].container, None);
    let err = Config::for_urls(&["container:".into()]).unwrap_err();
    assert!(
        err.contains("'container:' names no container; write e.g. 'container:one-api'"),
        "{err}"
    );
}

/// Issue 13 item 10: a target named `..`, with a `/` or a newline broke `watch --agent` and
/// the dashboard's URLs; config check now refuses such names with the line and the fix.
#[test]
fn target_names_that_break_urls_are_refused_with_the_line() {
    for (name, expect) in [
        ("..", "'..' is not a target name"),
        (".", "'.' is not a target name"),
        ("a/b", "contains '/'"),
        ("a\\nb", "a control character ('\\n')"),
        ("a%2F", "contains '%'"),
        ("a?b", "contains '?'"),
        (" a", "starts or ends with a space"),
        ("", "'' is not a target name"),
    ] {
        let text = format!("[[targets]]\nurl = \"http://h:1\"\nname = \"{name}\"\n");
        let errs = parse(&text).expect_err(name).0;
        assert_eq!(errs.len(), 1, "{name}: {errs:?}");
        assert_eq!(errs[0].line, 3, "{name}: {errs:?}");
        assert_eq!(errs[0].path, "targets[0].name");
        assert!(
            errs[0].message.contains(expect),
            "{name}: {}",
            errs[0].message
        );
        assert!(
            errs[0].message.contains("e.g. 'one-api'") || expect.contains("space"),
            "{}",
            errs[0].message
        );
    }
    let long = "x".repeat(MAX_TARGET_NAME + 1);
    let errs = parse(&format!(
        "[[targets]]\nurl = \"http://h:1\"\nname = \"{long}\"\n"
    ))
    .unwrap_err()
    .0;
    assert!(
        errs[0].message.contains("at most 128"),
        "{}",
        errs[0].message
    );
    // What real configs and the defaults use stays allowed.
    for name in [
        "one-api",
        "svc_2.prod",
        "127.0.0.1:3000",
        "[::1]:3000",
        "one-api#2",
        "one-api (simulated)",
        "ops@eu",
        "计费服务",
        &"x".repeat(MAX_TARGET_NAME),
    ] {
        assert_eq!(check_target_name(name), Ok(()), "{name}");
        let text = format!("[[targets]]\nurl = \"http://h:1\"\nname = \"{name}\"\n");
        assert!(parse(&text).is_ok(), "{name}");
    }
    assert!(parse("[[targets]]\nurl = \"http://[::1]:3000\"\n").is_ok());
}

#[test]
fn target_labels_are_read_and_checked() {
    let config = parse(
        r#"
[[targets]]
url = "http://127.0.0.1:3000"
labels = { team = "gateway", env = "prod" }
"#,
    )
    .unwrap();
    let labels: Vec<_> = config.targets[0].labels.iter().collect();
    assert_eq!(
        labels,
        [
            (&"env".to_string(), &"prod".to_string()),
            (&"team".to_string(), &"gateway".to_string())
        ]
    );
    let err = parse(
        r#"
[[targets]]
url = "http://127.0.0.1:3000"
labels = { "9lives" = "x", team = 3 }
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("'9lives' is not a label name"), "{err}");
    assert!(
        err.contains("a label value must be a string; write team = \"...\""),
        "{err}"
    );
}

#[test]
fn retention_is_read_and_checked() {
    let config = parse("[agent]\nraw_retention = \"2d\"\nretention = \"30d\"\n").unwrap();
    assert_eq!(config.agent.raw_retention, Duration::from_secs(2 * 86_400));
    assert_eq!(config.agent.retention, Duration::from_secs(30 * 86_400));
    let err = parse("[agent]\nraw_retention = \"30d\"\nretention = \"7d\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'30days' keeps raw samples longer than retention = '7days'"),
        "{err}"
    );
    let err = parse("[agent]\nraw_retention = \"10m\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'10m' is shorter than an hour"), "{err}");
}

#[test]
fn keep_alive_is_off_unless_asked() {
    assert!(!parse("").unwrap().agent.keep_alive);
    assert!(!parse(super::EXAMPLE).unwrap().agent.keep_alive);
    assert!(
        parse("[agent]\nkeep_alive = true\n")
            .unwrap()
            .agent
            .keep_alive
    );
    let err = parse("[agent]\nkeep_alive = \"yes\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("keep_alive"), "{err}");
}
