//! smoke
mod common;
use common::browser::Browser;
use std::time::Duration;
#[test]
fn smoke() {
    let mut b = Browser::start(1280, 900).unwrap();
    for route in [
        "#/block/312",
        "#/tx/9095ca3b28adbb3bbb489f12e2f4ab314c5822358a95ea580e8b8289fa5758fe",
        "#/list/device",
        "#/list/market",
        "#/tx/9095ca3b28adbb3bbb489f12e2f4ab314c5822358a95ea580e8b8289fa5758fe",
    ] {
        b.open(&format!("http://127.0.0.1:7820/{route}"));
        b.wait("ready", "document.body?.dataset.ready", Duration::from_secs(60));
        eprintln!("{route}: {} {}", b.eval("document.body.dataset.renderedMs"), b.eval("JSON.stringify(performance.getEntriesByType('resource').map(e => [e.name.slice(22,60), Math.round(e.startTime), Math.round(e.duration)]))"));
    }
}
