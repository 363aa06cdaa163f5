//! Setting up and running nodes: `init`, `dev`, `node`, `testnet`, `status`.

use super::*;

fn chain_options(chain: &ChainArgs, default_id: &str) -> setup::ChainOptions {
    setup::ChainOptions {
        chain_id: chain.chain_id.clone().unwrap_or_else(|| default_id.to_string()),
        dev_accounts: chain.dev_accounts,
        block_interval_ms: chain.block_interval_ms,
    }
}

fn new_home(ctx: &Ctx, args: &InitArgs) -> Result<Vec<setup::DevAccount>> {
    setup::init(
        &ctx.home,
        &chain_options(&args.chain, "machina-dev"),
        args.api,
        args.p2p,
        args.mqtt,
    )
}

fn accounts_table(accounts: &[setup::DevAccount]) -> String {
    accounts
        .iter()
        .map(|a| format!("  {:<6} {}  {}", a.name, a.address, a.balance))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn init(ctx: &Ctx, args: &InitArgs) -> CmdResult {
    let accounts = new_home(ctx, args)?;
    let body =
        json!({ "home": ctx.home.root(), "api": args.api.to_string(), "accounts": accounts });
    ctx.print(&body, || {
        format!(
            "initialized {}\nfunded dev accounts (name, address, balance):\n{}",
            ctx.home.root().display(),
            accounts_table(&accounts)
        )
    });
    Ok(())
}

pub(crate) fn init_logs(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

fn start(ctx: &Ctx) -> CmdResult {
    let config = ctx.home.config()?;
    init_logs(&config.log);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    machina_node::run::run(&ctx.home, shutdown, |_| {})?;
    Ok(())
}

pub(super) fn dev(ctx: &Ctx, args: &DevArgs) -> CmdResult {
    let accounts = if ctx.home.exists() {
        setup::existing_dev_accounts(&ctx.home)?
    } else {
        new_home(ctx, &args.init)?
    };
    let config = ctx.home.config()?;
    let genesis = ctx.home.genesis()?;
    let mqtt = match (&config.gateway.mqtt_broker, config.gateway.mqtt_listen) {
        (Some(external), _) => format!("{external} (external broker)"),
        (None, Some(listen)) => listen.to_string(),
        (None, None) => "off (readings over HTTP only)".into(),
    };
    let body = json!({
        "chain_id": genesis.chain_id,
        "home": ctx.home.root(),
        "api": format!("http://{}", config.api_listen),
        "p2p": config.p2p_listen.to_string(),
        "mqtt": mqtt,
        "anchor_interval_ms": config.gateway.anchor_interval_ms,
        "block_interval_ms": genesis.params.block_interval_ms,
        "accounts": accounts,
    });
    ctx.print(&body, || {
        format!(
            "Machina dev chain {:?}\n  home  {}\n  API   http://{} (explorer at /)\n  p2p   {}\n  MQTT  {}\n\
             funded dev accounts (name, address, balance):\n{}\n\
             blocks every {} ms, readings anchored every {} ms; Ctrl-C to stop (state persists in the home)",
            genesis.chain_id,
            ctx.home.root().display(),
            config.api_listen,
            config.p2p_listen,
            mqtt,
            accounts_table(&accounts),
            genesis.params.block_interval_ms,
            config.gateway.anchor_interval_ms,
        )
    });
    if args.demo {
        init_logs(&config.log);
        super::demo::spawn(ctx);
    }
    start(ctx)
}

pub(super) fn run_node(ctx: &Ctx) -> CmdResult {
    if !ctx.home.exists() {
        bail!(
            "{} has no node (run `machina init` or `machina testnet` first)",
            ctx.home.root().display()
        );
    }
    start(ctx)
}

pub(super) fn testnet(
    ctx: &Ctx,
    validators: usize,
    dir: &std::path::Path,
    base_port: u16,
    chain: &ChainArgs,
) -> CmdResult {
    let (nodes, accounts) =
        setup::testnet(dir, validators, base_port, &chain_options(chain, "machina-testnet"))?;
    let body = json!({ "nodes": nodes, "accounts": accounts });
    ctx.print(&body, || {
        let lines: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!("  machina node --home {}    # API http://{}, p2p {}", n.home, n.api, n.p2p)
            })
            .collect();
        format!(
            "wrote {validators} validator homes sharing one genesis; start each with:\n{}\n\
             funded dev accounts (in every node's keyring):\n{}",
            lines.join("\n"),
            accounts_table(&accounts)
        )
    });
    Ok(())
}

pub(super) fn status(ctx: &Ctx) -> CmdResult {
    let client = ctx.client();
    let status = client.status()?;
    ctx.print(&serde_json::to_value(&status)?, || {
        format!(
            "chain       {}\nnode        {}\nheight      {}\nvalidators  {}\nmempool     {}\n\
             gateway     {} (mqtt {}{})",
            status.chain_id,
            client.url(),
            status.height,
            status.validators.len(),
            status.mempool_size,
            status.gateway.account,
            status.gateway.mqtt.as_deref().unwrap_or("off"),
            status.gateway.mqtt_tls.as_deref().map(|t| format!(", tls {t}")).unwrap_or_default()
        )
    });
    Ok(())
}
