//! Routes of device data: readings in and out, devices, roles, streams, makers and feeds.

use super::{Op, Routes, hex32, path, query, u64_any, uint};
use crate::data::{
    AcceptedReading, FeedView, READINGS_PER_QUERY_DEFAULT, READINGS_PER_QUERY_MAX, Readings,
    RoleView, StreamView, SubmitReading,
};
use machina_store::{ProofBundle, ReadingBundle};
use machina_types::{
    identity::{
        roles,
        state::{Device, Maker},
    },
    limits::ROLE_LEN_MAX,
};
use utoipa::{
    PartialSchema,
    openapi::{
        HttpMethod::{Get, Post},
        path::Parameter,
        schema::{ObjectBuilder, Type},
    },
};

/// Registers the data routes.
pub(super) fn register(r: &mut Routes) {
    submit(r);
    devices(r);
    streams(r);
    makers_and_feeds(r);
}

/// The device id path parameter.
fn device() -> Parameter {
    path("id", "Device id (hex).", hex32())
}

/// The stream id path parameter.
fn stream() -> Parameter {
    path("stream", "Stream id.", uint(u32::MAX.into()))
}

fn submit(r: &mut Routes) {
    let (body, accepted) = (r.schema::<SubmitReading>(), r.schema::<AcceptedReading>());
    let op = Op::new(
        "Submit a device-signed reading (the HTTP twin of publishing on \
         machina/v1/<device>/telemetry/<stream>). Checked (size, decoding, timestamp, device \
         onboarded and active, signature against the device's current key, sequence strictly \
         increasing per stream) and stored durably before the answer.",
    )
    .body(body)
    .ok(202, "Stored (or an exact duplicate of a stored reading).", accepted)
    .error(
        r,
        400,
        "Refused: malformed, bad_signature, unknown_device, device_suspended, \
         device_decommissioned, sequence_not_increasing, timestamp_out_of_range or \
         malformed_json.",
    )
    .body_errors(r, "Reading too large (`oversized`, `body_too_large`).")
    .error(r, 503, "The gateway is stopping, or the node is overloaded (`unavailable`).");
    r.add(Post, "/v1/readings", op);
}

fn devices(r: &mut Routes) {
    let record = r.schema::<Device>();
    let op = Op::new(
        "A device record: owner, maker, model, keys, firmware, attributes, status, reputation.",
    )
    .param(device())
    .ok(200, "Device.", record)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/devices/{id}", op);
    let well_known =
        [roles::OPERATOR, roles::READER, roles::SELLER, roles::GATEWAY, roles::FEED_SOURCE];
    let role = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[A-Za-z0-9_.-]{{1,{ROLE_LEN_MAX}}}$")))
        .examples(well_known);
    let view = r.schema::<RoleView>();
    let op = Op::new(
        "Whether an account holds a role on a device now (owners hold every role; a grant ends \
         when the device changes owner), with the grant (expiry, accepted).",
    )
    .param(device())
    .param(path("account", "Account address.", hex32()))
    .param(path(
        "role",
        "Role name, 1 to 32 bytes (well-known: operator, reader, seller, gateway, \
         feed-source).",
        role,
    ))
    .ok(200, "Role.", view)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/devices/{id}/roles/{account}/{role}", op);
}

fn streams(r: &mut Routes) {
    let view = r.schema::<StreamView>();
    let op = Op::new(
        "A device stream: readings the gateway stores and readings the finalized chain has \
         anchored.",
    )
    .param(device())
    .param(stream())
    .ok(200, "Stream.", view)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/devices/{id}/streams/{stream}", op);
    let readings = r.schema::<Readings>();
    let limit = format!(
        "Most readings (default {READINGS_PER_QUERY_DEFAULT}; more count as \
         {READINGS_PER_QUERY_MAX})."
    );
    let op = Op::new(
        "Stored readings of a device stream by sequence or time range (inclusive; a range whose \
         start is after its end is refused with 400), each with its proof bundle once anchored \
         in a finalized block (verify offline with `machina verify-reading`).",
    )
    .param(device())
    .param(stream())
    .param(query("from_seq", "First sequence number (at most to_seq).", u64_any()))
    .param(query("to_seq", "Last sequence number.", u64_any()))
    .param(query("since_ms", "Earliest device timestamp (at most until_ms).", u64_any()))
    .param(query("until_ms", "Latest device timestamp.", u64_any()))
    .param(query("limit", &limit, u64_any()))
    .param(query("proofs", "Include proof bundles (default true).", bool::schema()))
    .ok(200, "Readings.", readings)
    .fails(r, &[400, 503]);
    r.add(Get, "/v1/devices/{id}/streams/{stream}/readings", op);
    let bundle = r.schema::<ReadingBundle>();
    let op = Op::new(
        "The proof bundle of one reading: the reading, its Merkle path to an anchored root, \
         state proofs of the anchor, device and maker, and the finalized block's header and \
         certificate.",
    )
    .param(device())
    .param(stream())
    .param(path("seq", "Sequence number.", u64_any()))
    .ok(200, "Reading bundle.", bundle)
    .fails(r, &[400, 404])
    .error(r, 503, "Not anchored in a finalized block yet (`unavailable`).");
    r.add(Get, "/v1/devices/{id}/streams/{stream}/readings/{seq}/proof", op);
}

fn makers_and_feeds(r: &mut Routes) {
    let maker = r.schema::<Maker>();
    let op = Op::new("A registered maker: name, maker key, bond.")
        .param(path("address", "Maker account.", hex32()))
        .ok(200, "Maker.", maker)
        .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/makers/{address}", op);
    let id = || path("id", "Feed id.", u64_any());
    let feed = r.schema::<FeedView>();
    let op = Op::new(
        "An oracle feed: definition, latest reports and current median (null when too few \
         fresh sources).",
    )
    .param(id())
    .ok(200, "Feed.", feed)
    .fails(r, &[400, 404, 503]);
    r.add(Get, "/v1/feeds/{id}", op);
    let bundle = r.schema::<ProofBundle>();
    let op = Op::new("Proof of a feed's state at the latest finalized block.")
        .param(id())
        .ok(200, "Proof bundle.", bundle)
        .fails(r, &[400, 503]);
    r.add(Get, "/v1/proofs/feeds/{id}", op);
}
