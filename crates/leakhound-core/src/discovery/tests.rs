#![allow(clippy::unwrap_used)]
use super::*;
use crate::config::{SourceKind, TargetTemplate};

fn template() -> TargetTemplate {
    let mut t = TargetTemplate::new(&Defaults::default());
    t.labels.insert("env".into(), "dev".into());
    t.labels.insert("team".into(), "a".into());
    t
}

fn json(body: &str) -> Found {
    parse_target_groups(body.as_bytes(), SdFormat::Json, "sd.json", &template()).unwrap()
}

fn url(t: &TargetConfig) -> &str {
    t.url.as_ref().unwrap().as_str()
}

#[test]
fn formats_by_extension() {
    assert_eq!(SdFormat::from_name("a.json"), Some(SdFormat::Json));
    assert_eq!(SdFormat::from_name("*.YML"), Some(SdFormat::Yaml));
    assert_eq!(SdFormat::from_name("b.yaml"), Some(SdFormat::Yaml));
    assert_eq!(SdFormat::from_name("c.txt"), None);
    assert_eq!(SdFormat::from_name("json"), None);
}

#[test]
fn groups_become_targets_with_merged_labels() {
    let found = json(
        r#"[
          {"targets": ["10.0.0.1:9090", "10.0.0.2:9090"], "labels": {"env": "prod", "__meta_x": "dropped"}},
          {"targets": ["[::1]:3000"], "labels": {"__metrics_path__": "/debug/vars", "__scheme__": "https", "__leakhound_name__": "one-api"}},
          {"targets": []}
        ]"#,
    );
    assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    let names: Vec<&str> = found.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["10.0.0.1:9090", "10.0.0.2:9090", "one-api"]);
    let a = &found.targets[0];
    assert_eq!(url(a), "http://10.0.0.1:9090/metrics");
    assert_eq!(a.source, SourceKind::Prometheus);
    assert_eq!(
        a.labels,
        BTreeMap::from([("env".into(), "prod".into()), ("team".into(), "a".into())])
    );
    let one = &found.targets[2];
    assert_eq!(url(one), "https://[::1]:3000/debug/vars");
    assert_eq!(one.source, SourceKind::Expvar);
    assert_eq!(one.labels["env"], "dev");
    assert_eq!(one.interval, Defaults::default().interval);
}

#[test]
fn yaml_reads_the_same_and_empty_yaml_is_no_targets() {
    let body = "- targets: ['10.0.0.1:9090']\n  labels:\n    env: prod\n    __scheme__: https\n";
    let found =
        parse_target_groups(body.as_bytes(), SdFormat::Yaml, "sd.yml", &template()).unwrap();
    assert_eq!(found.targets.len(), 1);
    assert_eq!(url(&found.targets[0]), "https://10.0.0.1:9090/metrics");
    assert_eq!(found.targets[0].labels["env"], "prod");
    let empty = parse_target_groups(b"", SdFormat::Yaml, "sd.yml", &template()).unwrap();
    assert!(empty.targets.is_empty() && empty.warnings.is_empty());
}

#[test]
fn a_template_source_pins_it() {
    let mut t = template();
    t.source = Some(SourceKind::Health);
    t.path = "/api/monitor/health".into();
    let found = parse_target_groups(br#"[{"targets":["h:1"]}]"#, SdFormat::Json, "x", &t).unwrap();
    assert_eq!(found.targets[0].source, SourceKind::Health);
    assert_eq!(url(&found.targets[0]), "http://h:1/api/monitor/health");
}

#[test]
fn bad_entries_are_skipped_with_a_warning_and_the_good_kept() {
    let found = json(
        r#"[
          {"targets": ["good:1", "bad/path:2", 7, "", "user@h:3"]},
          "not a group",
          {"labels": {"env": "x"}},
          {"targets": "h:4"},
          {"targets": ["h:5"], "labels": {"bad-name": "x"}},
          {"targets": ["h:6"], "labels": {"env": 1}},
          {"targets": ["h:7"], "labels": {"__metrics_path__": "metrics"}},
          {"targets": ["h:8"], "labels": {"__scheme__": "ftp"}},
          {"targets": ["h:9"], "labels": {"__leakhound_name__": "a/b"}},
          {"targets": ["good:1", "h:10"], "labels": "x"},
          {"targets": ["good:1", "good:2"]}
        ]"#,
    );
    let names: Vec<&str> = found.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["good:1", "good:2"], "{:#?}", found.warnings);
    let w = &found.warnings;
    let has = |needle: &[&str]| {
        assert!(
            w.iter().any(|l| needle.iter().all(|n| l.contains(n))),
            "no warning with {needle:?}: {w:#?}"
        )
    };
    has(&["sd.json: group 1", "'bad/path:2'", "e.g. \"10.0.0.1:9090\""]);
    has(&["group 1", "7", "not a \"host:port\" string"]);
    has(&["group 1", "''"]);
    has(&["group 1", "'user@h:3'"]);
    has(&["group 2", "not a target group"]);
    has(&["group 3 has no 'targets'"]);
    has(&["group 4", "'targets' is \"h:4\""]);
    has(&["group 5 is skipped", "'bad-name' is not a label name"]);
    has(&["group 6 is skipped", "label 'env' is 1"]);
    has(&["group 7 is skipped", "'metrics'", "\"/metrics\""]);
    has(&["group 8 is skipped", "'ftp'"]);
    has(&["group 9 is skipped", "'a/b'"]);
    has(&["group 10 is skipped", "'labels' is \"x\""]);
    has(&["group 11", "second target named 'good:1'"]);
    assert_eq!(w.len(), 14, "{w:#?}");
}

#[test]
fn an_unreadable_body_is_an_error_naming_the_source() {
    let err = parse_target_groups(b"{\"targets\": []}", SdFormat::Json, "a.json", &template())
        .unwrap_err();
    assert!(err.starts_with("a.json: the body is a map"), "{err}");
    let err = parse_target_groups(b"<html>", SdFormat::Json, "a.json", &template()).unwrap_err();
    assert!(err.contains("not a JSON list"), "{err}");
    let err =
        parse_target_groups(b"- [unclosed", SdFormat::Yaml, "a.yml", &template()).unwrap_err();
    assert!(err.contains("not a YAML list"), "{err}");
    let big = vec![b' '; (MAX_SD_BODY_BYTES + 1) as usize];
    let err = parse_target_groups(&big, SdFormat::Json, "a.json", &template()).unwrap_err();
    assert!(err.contains("split it"), "{err}");
}

#[test]
fn warnings_are_escaped_and_capped() {
    let mut groups = vec![r#"{"targets": ["evil\nline:1"]}"#.to_string()];
    groups.extend((0..50).map(|i| format!(r#"{{"targets": ["bad/{i}:1"]}}"#)));
    let found = json(&format!("[{}]", groups.join(",")));
    assert!(
        found.warnings[0].contains("evil\\nline"),
        "{}",
        found.warnings[0]
    );
    assert!(found.warnings.iter().all(|w| !w.contains('\n')));
    assert_eq!(found.warnings.len(), MAX_WARNINGS + 1);
    assert!(
        found.warnings[MAX_WARNINGS].contains("31 more warnings"),
        "{:?}",
        found.warnings.last()
    );
}

#[test]
fn targets_are_capped() {
    let mut set = TargetSet::new();
    let t = template();
    for i in 0..MAX_DISCOVERED_TARGETS + 5 {
        let target = build_target(
            &t,
            None,
            &format!("h:{}", i % 60000 + 1),
            "http",
            "/m",
            &t.labels,
        );
        let mut target = target.unwrap();
        target.name = format!("t{i}");
        set.add(target, "x");
    }
    let found = set.finish();
    assert_eq!(found.targets.len(), MAX_DISCOVERED_TARGETS);
    assert_eq!(found.warnings.len(), 1);
    assert!(
        found.warnings[0].starts_with("5 more targets were cut"),
        "{:?}",
        found.warnings
    );
}

fn container(labels: &[(&str, &str)], ip: Option<&str>) -> ContainerInfo {
    ContainerInfo {
        name: "one-api".into(),
        ip: ip.map(str::to_string),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn containers_become_targets_by_their_labels() {
    let t = template();
    let c = container(
        &[("leakhound.enable", "true"), ("leakhound.port", "8080")],
        None,
    );
    let target = docker_target(&t, &c, Some("unix:///d.sock")).unwrap();
    assert_eq!(target.name, "one-api");
    assert_eq!(url(&target), "http://127.0.0.1:8080/metrics");
    assert_eq!(
        target.container,
        Some(ContainerSource {
            name: "one-api".into(),
            docker_host: Some("unix:///d.sock".into())
        })
    );
    assert_eq!(target.labels, t.labels);
    let c = container(
        &[
            ("leakhound.port", "3000"),
            ("leakhound.path", "/api/monitor/health"),
            ("leakhound.scheme", "https"),
            ("leakhound.name", "api (blue)"),
        ],
        Some("172.17.0.5"),
    );
    let target = docker_target(&t, &c, None).unwrap();
    assert_eq!(target.name, "api (blue)");
    assert_eq!(url(&target), "https://172.17.0.5:3000/api/monitor/health");
    assert_eq!(target.source, SourceKind::Health);
    assert_eq!(target.container.unwrap().name, "one-api");
    let c = container(
        &[("leakhound.port", "1"), ("leakhound.host", "fd00::1")],
        Some("10.1.1.1"),
    );
    assert_eq!(
        url(&docker_target(&t, &c, None).unwrap()),
        "http://[fd00::1]:1/metrics"
    );
}

#[test]
fn a_container_label_mistake_names_the_fix() {
    let t = template();
    let err = docker_target(&t, &container(&[], None), None).unwrap_err();
    assert!(
        err.contains("no 'leakhound.port'") && err.contains("--label leakhound.port=8080"),
        "{err}"
    );
    let err = docker_target(&t, &container(&[("leakhound.port", "http")], None), None).unwrap_err();
    assert!(err.contains("'http'"), "{err}");
    let err = docker_target(
        &t,
        &container(&[("leakhound.port", "1"), ("leakhound.path", "x")], None),
        None,
    )
    .unwrap_err();
    assert!(err.contains("'x'"), "{err}");
    let err = docker_target(
        &t,
        &container(&[("leakhound.port", "1"), ("leakhound.name", "../x")], None),
        None,
    )
    .unwrap_err();
    assert!(err.contains("'../x'"), "{err}");
}
