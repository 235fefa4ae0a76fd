//! Building and installing: everything `build()` starts, and the global
//! installs (`install_prometheus`, `init`), each checking first.

use super::*;

impl TelemetryBuilder {
    /// Builds the layer and starts the writer. Touches no globals.
    ///
    /// Takes the log directory's lock first (waiting up to
    /// [`lock_wait`](Self::lock_wait)); the torn-tail repair, retention and
    /// compression only run while it is held. Today's daily sums are read
    /// back on a thread of their own, so this returns in the same time
    /// whatever the size of today's file ([`Guard::flush`] waits for them).
    ///
    /// # Errors
    ///
    /// [`Error::LogDir`] when the directory cannot be created or written,
    /// [`Error::DirLocked`] when another writer holds it,
    /// [`Error::Config`] for out-of-range settings (an empty `log_dir`, ...),
    /// [`Error::Rule`] and [`Error::Toml`] for bad metric rules,
    /// [`Error::Read`] for an unreadable rules file.
    pub fn build<S>(mut self) -> Result<(TelemetryLayer<S>, Guard), Error>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (engine, exporter) = self.prepare()?;
        self.start(engine, &exporter)
    }

    /// Validates every setting and compiles the rules, touching nothing:
    /// the one place that checks, so a bad setting fails here whatever is
    /// called.
    fn prepare(&mut self) -> Result<(Arc<MetricsEngine>, ExporterConfig), Error> {
        self.validate()?;
        let engine = Arc::new(MetricsEngine::new(self.take_rules()?, self.max_series)?);
        let mut exporter = self.exporter.clone();
        exporter.allowed = self.allowed_peers()?;
        exporter.limits.hosts = self.allowed_hosts()?;
        exporter::check_global_labels(&exporter, &engine)?;
        check_app_buckets(&exporter.app_buckets, &engine)?;
        let now_ms = unix_millis(self.clock.now());
        engine.self_metrics().set_start_time(now_ms as f64 / 1000.0);
        engine.set_stderr(self.stderr);
        Ok((engine, exporter))
    }

    /// Opens the directory (under its lock), repairs, starts the daily-sum
    /// restore and the writer.
    fn start<S>(
        self,
        engine: Arc<MetricsEngine>,
        exporter: &ExporterConfig,
    ) -> Result<(TelemetryLayer<S>, Guard), Error>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut files = DailyFiles::open(&self.log_dir, &self.file_prefix, self.lock_wait)?;
        let log_dir = |source| Error::LogDir {
            path: self.log_dir.clone(),
            source,
        };
        let today = day_of(unix_millis(self.clock.now()));
        for day in [today - 1, today] {
            files.repair_if_exists(day).map_err(log_dir)?;
        }
        let own = engine.self_metrics().clone();
        let restore = Restore::start(&engine, &files.path_for(today), today, &own, self.stderr)
            .map_err(log_dir)?;
        let max = (self.queue_max_bytes).unwrap_or(DEFAULT_QUEUE_MAX.max(self.queue_bytes));
        let queue = Arc::new(Queue::new(self.queue_bytes, max, self.lossy));
        let ticks = engine.clone();
        let on_tick = OnTick(Box::new(move |now_ms| ticks.tick(now_ms)));
        let mut writer = Writer::new(
            queue.clone(),
            files,
            own.clone(),
            self.clock.clone(),
            on_tick,
            WriterConfig {
                tick: self.flush_interval,
                retention_days: self.retention_days,
                gzip: self.gzip,
                retry_for: self.write_retry,
                stderr: self.stderr,
                discard: self.discard,
                delay: self.write_delay,
            },
        );
        writer.on_tick();
        writer.publish_repairs();
        let handle = writer.spawn().map_err(log_dir)?;
        let inner = Inner::new(
            self.redactor,
            queue.clone(),
            engine.clone(),
            EventClock::new(self.clock, self.system_clock),
            (self.max_line_bytes, self.span_fields, self.stderr),
        );
        let layer =
            BareTelemetryLayer::new(inner).with_filter(TelemetryFilter::new(self.span_fields));
        let mut guard = Guard::new(queue, own, handle, restore, self.shutdown_timeout);
        guard.keep_rules(RuleMetrics::new(engine, exporter.app_buckets.clone()));
        Ok((layer, guard))
    }

    /// Like [`build`](Self::build), then installs the Prometheus recorder as
    /// the global `metrics` recorder (with real histogram buckets for every
    /// histogram rule) and serves `/metrics` at
    /// [`prometheus_listen`](Self::prometheus_listen). The guard owns the
    /// listener.
    ///
    /// The recorder is installed (and the address bound) before the log
    /// directory is touched, so a second install fails without disturbing
    /// the directory; if the directory then fails, the recorder stays
    /// installed (a process has one) and the listener is closed.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), plus [`Error::Exporter`] when the address
    /// cannot be bound and [`Error::AlreadyInstalled`] when a global recorder exists.
    pub fn install_prometheus<S>(mut self) -> Result<(TelemetryLayer<S>, Guard), Error>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (engine, cfg) = self.prepare()?;
        let exporter = exporter::install(&cfg, &engine)?;
        let (layer, mut guard) = self.start(engine, &cfg)?;
        guard.keep_exporter(exporter);
        Ok((layer, guard))
    }

    /// The common case in one call: installs a global subscriber made of a
    /// registry, this layer, and a redacting human-readable
    /// [`console_layer`](crate::console_layer) on stderr, filtered by
    /// `RUST_LOG` when it is set (`EnvFilter` syntax: `info`,
    /// `my_crate=debug,info`, ...) and by
    /// [`console_level`](Self::console_level) (INFO) otherwise. The filter
    /// is the console's own: every `evt` event still becomes a line. No
    /// metrics exporter (see
    /// [`init_with_prometheus`](Self::init_with_prometheus)).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), plus [`Error::Config`] naming `RUST_LOG`
    /// when it cannot be parsed, and [`Error::AlreadyInstalled`] when a
    /// global subscriber exists.
    pub fn init(self) -> Result<Guard, Error> {
        refuse_if_subscriber_installed()?;
        let console = self.console()?;
        let (layer, guard) = self.build()?;
        install_subscriber(layer, console)?;
        Ok(guard)
    }

    /// [`init`](Self::init) plus [`install_prometheus`](Self::install_prometheus).
    ///
    /// # Errors
    ///
    /// As both.
    pub fn init_with_prometheus(self) -> Result<Guard, Error> {
        refuse_if_subscriber_installed()?;
        let console = self.console()?;
        let (layer, guard) = self.install_prometheus()?;
        install_subscriber(layer, console)?;
        Ok(guard)
    }

    /// The console layer `init` installs, if any, behind its own filter.
    fn console(&self) -> Result<Option<Console>, Error> {
        if self.console_level == LevelFilter::OFF {
            return Ok(None);
        }
        let filter = console_filter(std::env::var("RUST_LOG").ok(), self.console_level)?;
        Ok(Some(
            console_layer(self.redactor.clone()).with_filter(filter),
        ))
    }
}

/// The application's own histogram buckets: valid bounds, a name given once
/// and not a rule's metric.
fn check_app_buckets(app: &[(String, Vec<f64>)], engine: &MetricsEngine) -> Result<(), Error> {
    let rules = engine.catalogue().histogram_buckets();
    for (i, (name, bounds)) in app.iter().enumerate() {
        let bad = |m: String| Err(Error::Config(format!("prometheus_buckets({name:?}): {m}")));
        if name.is_empty() {
            return bad("the metric name is empty".into());
        }
        if let Err(m) = check_buckets(bounds) {
            return bad(m);
        }
        if app[..i].iter().any(|(n, _)| n == name) {
            return bad("given twice".into());
        }
        if rules.iter().any(|(n, _)| n == name) {
            return bad("a rule's histogram: set its buckets in the rule".into());
        }
    }
    Ok(())
}

/// [`Error::AlreadyInstalled`] if a global subscriber exists, checked before
/// anything touches the log directory (`try_init` checks again, atomically).
/// Asked on a new thread: there, the default dispatcher is the global one.
fn refuse_if_subscriber_installed() -> Result<(), Error> {
    let installed = std::thread::scope(|s| {
        s.spawn(|| {
            tracing::dispatcher::get_default(|d| !d.is::<tracing_core::subscriber::NoSubscriber>())
        })
        .join()
    });
    match installed {
        Ok(false) => Ok(()),
        // A panic on that thread cannot happen; refusing is the safe side.
        _ => Err(Error::AlreadyInstalled("tracing subscriber")),
    }
}

type Base = tracing_subscriber::layer::Layered<TelemetryLayer<Registry>, Registry>;
type Console = Filtered<ConsoleLayer<Base>, EnvFilter, Base>;

/// The console's filter: `rust_log` when set and not blank, else `level`.
fn console_filter(rust_log: Option<String>, level: LevelFilter) -> Result<EnvFilter, Error> {
    match rust_log.filter(|v| !v.trim().is_empty()) {
        Some(v) => EnvFilter::builder()
            .parse(&v)
            .map_err(|e| Error::Config(format!("RUST_LOG={v:?}: {e}"))),
        None => Ok(EnvFilter::default().add_directive(level.into())),
    }
}

fn install_subscriber(
    layer: TelemetryLayer<Registry>,
    console: Option<Console>,
) -> Result<(), Error> {
    tracing_subscriber::registry()
        .with(layer)
        .with(console)
        .try_init()
        .map_err(|_| Error::AlreadyInstalled("tracing subscriber"))
}
