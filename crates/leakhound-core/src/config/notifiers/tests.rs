//! The messages of `[[notifiers]]` mistakes: the same words, at the same place, as when serde
//! read these blocks in the agent.

use crate::config::{Config, ConfigError};

fn errors(block: &str) -> Vec<ConfigError> {
    Config::parse(&format!("[[notifiers]]\n{block}"), &|_| None)
        .map(|_| Vec::new())
        .unwrap_or_else(|e| e.0)
}

const TYPES: &str = " (types: email, wecom, dingtalk, feishu, slack, telegram, webhook, alertmanager; see README 'Notification channels')";

#[test]
fn mistakes_are_worded_as_serde_worded_them_at_the_block() {
    for (block, want) in [
        (
            "name = \"wx\"\ntype = \"wecom\"\nkey = \"wecom-key-0123456789\"\nmsg_type = \"text\"",
            "unknown field `msg_type`, expected one of `key`, `url`, `msgtype`, `mentioned_list`, `mentioned_mobile_list`, `rate_limit_per_minute`",
        ),
        (
            "name = \"x\"\ntype = \"pager\"",
            "unknown variant `pager`, expected one of `email`, `wecom`, `dingtalk`, `feishu`, `slack`, `telegram`, `webhook`, `alertmanager`",
        ),
        (
            "name = \"x\"\ntype = \"slack\"",
            "missing field `url`",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = \"ssl\"",
            "unknown variant `ssl`, expected one of `none`, `starttls`, `tls`",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = 1\ntimeout = 5",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = 1\ntimeout = \"soon\"",
            "'soon' is not a duration (expected number at 0): write it like \"10s\" or \"1m\"",
        ),
        (
            "name = \"am\"\ntype = \"alertmanager\"\nurl = \"http://x\"\nresend_interval = \"soon\"",
            "'soon' is not a duration (expected number at 0): write it like \"10s\" or \"1m\"",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = 1.5",
            "data did not match any variant of untagged enum ChatId",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = true",
            "data did not match any variant of untagged enum ChatId",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\nport = 70000",
            "invalid value: integer `70000`, expected u16",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = \"a@b.c\"",
            "invalid type: string \"a@b.c\", expected a sequence",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [1]",
            "invalid type: integer `1`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"webhook\"\nurl = \"http://h\"\nheaders = \"x\"",
            "invalid type: string \"x\", expected a map",
        ),
        (
            "name = \"x\"\ntype = \"webhook\"\nurl = \"http://h\"\nheaders = { A = 1 }",
            "invalid type: integer `1`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\naccept_invalid_certs = \"yes\"",
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            "name = \"tg\"\ntype = \"telegram\"\nbot_token = \"123456:tg-token-0123456789\"\nchat_id = 1\nmessage_thread_id = \"123456:tg-token-0123456789\"",
            "invalid type: string \"***\", expected i64",
        ),
        (
            "name = \"x\"\ntype = \"wecom\"\nrate_limit_per_minute = -1",
            "invalid value: integer `-1`, expected u32",
        ),
        (
            "name = \"x\"\ntype = \"wecom\"\nrate_limit_per_minute = 1.5",
            "invalid type: floating point `1.5`, expected u32",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = \"ftp://x/y\"",
            "'ftp://x/…' is not an http(s) URL: write it as https://host/path",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = \"nope\"",
            "'…' is not a URL (relative URL without a base): write it as https://host/path",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = 5",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = \"1:a\"\nchat_id = 1\nparse_mode = \"markdown\"",
            "unknown variant `markdown`, expected one of `HTML`, `html`, `Text`, `none`, `text`",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = \"http://h\"\ntitle_template = 5",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"alertmanager\"\nurl = \"http://h\"\nlabels = { env = 1 }",
            "invalid type: integer `1`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = \"http://h\"\nzzz = 1\naaa = 2",
            "unknown field `aaa`, expected `url`",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"",
            "missing field `from`",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nto = [\"a\"]\nfrom = \"f\"\nhost = 5\ntls = \"ssl\"",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "name = \"x\"\ntype = \"wecom\"\nmentioned_list = \"a\"",
            "invalid type: string \"a\", expected a sequence",
        ),
        (
            "name = \"x\"\ntype = \"WeCom\"",
            "unknown variant `WeCom`, expected one of `email`, `wecom`, `dingtalk`, `feishu`, `slack`, `telegram`, `webhook`, `alertmanager`",
        ),
        (
            "name = \"x\"\ntype = \"slack\"\nurl = \"http://h\"\nkey = \"abc\"",
            "unknown field `key`, expected `url`",
        ),
        (
            "name = \"x\"\ntype = \"dingtalk\"\nat_all = 1",
            "invalid type: integer `1`, expected a boolean",
        ),
        (
            "name = \"x\"\ntype = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = 1",
            "invalid type: integer `1`, expected string or map",
        ),
        (
            "name = \"x\"\ntype = \"alertmanager\"\nurl = \"http://h\"\nlabels = []",
            "invalid type: sequence, expected a map",
        ),
        (
            "name = \"x\"\ntype = \"telegram\"\nbot_token = 5\nchat_id = 1",
            "invalid type: integer `5`, expected a string",
        ),
    ] {
        let errs = errors(block);
        let name = block.split('"').nth(1).unwrap();
        assert_eq!(errs.len(), 1, "{block}: {errs:#?}");
        let e = &errs[0];
        assert_eq!(
            (e.line, e.column, e.path.as_str()),
            (1, 1, "notifiers[0]"),
            "{block}"
        );
        assert_eq!(e.message, format!("notifier '{name}': {want}{TYPES}"), "{block}");
    }
}

#[test]
fn good_blocks_are_typed() {
    use super::{ChannelConfig, ChatId, TelegramParseMode};
    let text = "[[notifiers]]\nname = \"tg\"\ntype = \"telegram\"\nbot_token = \"${TOKEN}\"\nchat_id = \"@chan\"\nparse_mode = \"none\"\ntimeout = \"0s\"\n";
    let env = |k: &str| (k == "TOKEN").then(|| "1:abc-0123456789".to_string());
    let config = Config::parse(text, &env).unwrap();
    let n = &config.notifiers[0];
    assert_eq!((n.name.as_str(), n.kind(), n.line), ("tg", "telegram", 1));
    assert_eq!(n.timeout, Some(std::time::Duration::ZERO));
    let ChannelConfig::Telegram(t) = &n.channel else {
        panic!("{n:?}")
    };
    assert_eq!(t.bot_token.expose(), "1:abc-0123456789");
    assert_eq!(t.chat_id, ChatId::Name("@chan".into()));
    assert_eq!(t.parse_mode, TelegramParseMode::Text);
    assert!(!format!("{n:?}").contains("abc-0123456789"));
}

#[test]
fn secrets_are_not_echoed() {
    let errs = errors("name = \"tg\"\ntype = \"telegram\"\nbot_token = \"123456:tg-token-0123456789\"\nchat_id = 1\nmessage_thread_id = \"x 123456:tg-token-0123456789\"");
    assert!(
        errs[0]
            .message
            .contains("invalid type: string \"x ***\", expected i64"),
        "{errs:#?}"
    );
    let errs = errors("name = \"w\"\ntype = \"wecom\"\nurl = \"https://h/send?key=k3y-0123456789\"\nmsgtype = \"k3y-0123456789\"");
    assert!(
        errs[0].message.contains("unknown variant `***`"),
        "{errs:#?}"
    );
}
