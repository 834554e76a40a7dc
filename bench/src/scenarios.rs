//! The preset scenarios of issue 4 (`--scenario`, `--suite`) and the custom
//! shape given on the command line.

use crate::{Cli, Preset};

/// One scenario to run against each server.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub key: String,
    pub title: String,
    pub group: String,
    pub channels: usize,
    pub per_channel: usize,
    pub senders_per_channel: usize,
    pub rate: f64,
    pub warmup: u64,
    pub duration: u64,
    pub idle: bool,
}

fn preset(p: Preset) -> Scenario {
    match p {
        Preset::A => Scenario {
            key: "a".into(),
            title: "1 channel × 2 clients, sequential (closed loop, 1 sender)".into(),
            group: "a".into(),
            channels: 1,
            per_channel: 2,
            senders_per_channel: 1,
            rate: 0.0,
            warmup: 1,
            duration: 10,
            idle: false,
        },
        Preset::B => Scenario {
            key: "b".into(),
            title: "100 channels × 10 clients, 500 msg/s in all (1 sender per channel)".into(),
            group: "b".into(),
            channels: 100,
            per_channel: 10,
            senders_per_channel: 1,
            rate: 500.0,
            warmup: 2,
            duration: 20,
            idle: false,
        },
        Preset::C => Scenario {
            key: "c".into(),
            title: "1,000 channels × 10 clients, as fast as it goes (closed loop, 1 sender per channel)".into(),
            group: "cd".into(),
            channels: 1000,
            per_channel: 10,
            senders_per_channel: 1,
            rate: 0.0,
            warmup: 3,
            duration: 20,
            idle: false,
        },
        Preset::D => Scenario {
            key: "d".into(),
            title: "10,000 idle connections (1,000 channels × 10, subscribed)".into(),
            group: "cd".into(),
            channels: 1000,
            per_channel: 10,
            senders_per_channel: 0,
            rate: 0.0,
            warmup: 0,
            duration: 0,
            idle: true,
        },
    }
}

pub fn scenarios(cli: &Cli) -> Vec<Scenario> {
    if cli.suite {
        // d before c: c fills its channels with history, and d should
        // measure connections, not a replay.
        return [Preset::A, Preset::B, Preset::D, Preset::C]
            .into_iter()
            .map(preset)
            .collect();
    }
    if let Some(p) = cli.scenario {
        return vec![preset(p)];
    }
    let per = cli.clients_per_channel as usize;
    if let Some(n) = cli.idle {
        let n = n as usize;
        let channels = n.div_ceil(per);
        return vec![Scenario {
            key: "idle".into(),
            title: format!("{n} idle connections ({channels} channels × {per})"),
            group: "custom".into(),
            channels,
            per_channel: per,
            senders_per_channel: 0,
            rate: 0.0,
            warmup: 0,
            duration: 0,
            idle: true,
        }];
    }
    let senders = (cli.senders_per_channel as usize).min(per);
    let rate = if cli.rate > 0.0 {
        format!("{} msg/s in all", cli.rate)
    } else {
        "closed loop".into()
    };
    vec![Scenario {
        key: "custom".into(),
        title: format!(
            "{} channels × {per} clients, {rate}, {senders} sender(s) per channel",
            cli.channels
        ),
        group: "custom".into(),
        channels: cli.channels as usize,
        per_channel: per,
        senders_per_channel: senders,
        rate: cli.rate.max(0.0),
        warmup: cli.warmup,
        duration: cli.duration,
        idle: false,
    }]
}
