//! Where log lines go and in what shape: plain text on stderr, with the journal's `<N>` priority
//! prefix when stderr is the journal (so `journalctl -p err` finds errors), or JSON lines
//! (`--log-format json`) for other collectors.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up logging; `REPORTBOX_LOG` filters (default `warn,reportbox=info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPORTBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,reportbox=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text if stderr_is_journal() => {
            // The journal stamps each line itself, and colour codes would be noise there.
            builder
                .with_ansi(false)
                .event_format(Priority(tracing_subscriber::fmt::format().without_time()))
                .init()
        }
        LogFormat::Text => builder
            // Colour codes only on a terminal.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` of the stream it connected; stderr is the journal
/// only if it is still that stream (not redirected by a wrapper script).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// sd-daemon(3) priority prefix: `<3>` error, `<4>` warning, `<6>` info, `<7>` debug.
struct Priority<F>(F);

fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels_map_to_syslog_priorities() {
        use tracing::Level;
        assert_eq!(super::priority(&Level::ERROR), 3);
        assert_eq!(super::priority(&Level::WARN), 4);
        assert_eq!(super::priority(&Level::INFO), 6);
        assert_eq!(super::priority(&Level::DEBUG), 7);
    }
}
