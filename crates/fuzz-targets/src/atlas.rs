//! The Atlas JSON request bodies: restore job creation, snapshot schedule PATCH, checkpoint POST.

use cairn::http::atlas::{
    parse_checkpoint_request, parse_restore_request, parse_schedule_update, AtlasError,
    RestoreRequest, RestoreTarget,
};
use cairn::service::ScheduleUpdate;
use serde_json::{json, Map, Value};

/// The `errorCode`s a body alone can earn.
const BODY_CODES: &[&str] = &[
    "INVALID_JSON",
    "INVALID_ATTRIBUTE",
    "MISSING_ATTRIBUTE",
    "ATTRIBUTE_READ_ONLY",
    "UNSUPPORTED_DELIVERY_METHOD",
];

/// Runs `data` through the three body parsers.
pub fn atlas_body(data: &[u8]) {
    let blank = data.iter().all(u8::is_ascii_whitespace);
    let object = serde_json::from_slice::<Value>(data)
        .ok()
        .filter(Value::is_object);
    let well_formed = blank || object.is_some();

    match parse_checkpoint_request(data) {
        Ok(()) => assert!(
            blank
                || object
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
        ),
        Err(e) => refusal(&e, well_formed),
    }

    match parse_schedule_update(data) {
        Ok(u) => {
            assert!(well_formed);
            allowed_schedule(&u);
            let again = parse_schedule_update(&schedule_json(&u)).expect("its own JSON");
            assert_eq!(format!("{again:?}"), format!("{u:?}"));
        }
        Err(e) => refusal(&e, well_formed),
    }

    match parse_restore_request(data) {
        Ok(r) => {
            assert!(object.is_some());
            assert_eq!(parse_restore_request(&restore_json(&r)).ok(), Some(r));
        }
        Err(e) => refusal(&e, well_formed),
    }
}

/// A refusal is a 400 in the Atlas error shape; bodies that are not a JSON object are
/// `INVALID_JSON`.
fn refusal(e: &AtlasError, well_formed: bool) {
    assert_eq!(e.status(), 400, "{e:?}");
    assert!(BODY_CODES.contains(&e.code()), "{e:?}");
    if !well_formed {
        assert_eq!(e.code(), "INVALID_JSON", "{e:?}");
    }
    let body = e.body();
    let m = body.as_object().expect("an object");
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["detail", "error", "errorCode", "parameters", "reason"]
    );
    assert_eq!(m["error"], json!(400));
    assert_eq!(m["errorCode"], json!(e.code()));
    assert!(m["parameters"].is_array() && m["detail"].is_string());
}

fn allowed_schedule(u: &ScheduleUpdate) {
    let check = |v: Option<u32>, ok: fn(u32) -> bool, name: &str| {
        if let Some(x) = v {
            assert!(ok(x), "{name} = {x} accepted");
        }
    };
    check(
        u.checkpoint_interval_min,
        |x| matches!(x, 15 | 30 | 60),
        "clusterCheckpointIntervalMin",
    );
    check(
        u.snapshot_interval_hours,
        |x| matches!(x, 6 | 8 | 12 | 24),
        "snapshotIntervalHours",
    );
    check(
        u.snapshot_retention_days,
        |x| (2..=5).contains(&x),
        "snapshotRetentionDays",
    );
    check(
        u.daily_snapshot_retention_days,
        |x| matches!(x, 0 | 3..=7 | 15 | 30 | 60 | 90 | 120 | 180 | 360),
        "dailySnapshotRetentionDays",
    );
    check(
        u.weekly_snapshot_retention_weeks,
        |x| matches!(x, 0..=8 | 12 | 16 | 20 | 24 | 52),
        "weeklySnapshotRetentionWeeks",
    );
    check(
        u.monthly_snapshot_retention_months,
        |x| matches!(x, 0..=13 | 18 | 24 | 36),
        "monthlySnapshotRetentionMonths",
    );
    check(
        u.point_in_time_window_hours,
        |x| (1..=8760).contains(&x),
        "pointInTimeWindowHours",
    );
}

fn schedule_json(u: &ScheduleUpdate) -> Vec<u8> {
    let mut m = Map::new();
    for (k, v) in [
        ("clusterCheckpointIntervalMin", u.checkpoint_interval_min),
        ("snapshotIntervalHours", u.snapshot_interval_hours),
        ("snapshotRetentionDays", u.snapshot_retention_days),
        (
            "dailySnapshotRetentionDays",
            u.daily_snapshot_retention_days,
        ),
        (
            "weeklySnapshotRetentionWeeks",
            u.weekly_snapshot_retention_weeks,
        ),
        (
            "monthlySnapshotRetentionMonths",
            u.monthly_snapshot_retention_months,
        ),
        ("pointInTimeWindowHours", u.point_in_time_window_hours),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    serde_json::to_vec(&m).expect("json")
}

fn restore_json(r: &RestoreRequest) -> Vec<u8> {
    let mut delivery = json!({"methodName": "AUTOMATED_RESTORE", "targetGroupId": r.target_group});
    match &r.target_cluster {
        RestoreTarget::Name(n) => delivery["targetClusterName"] = json!(n),
        RestoreTarget::Uid(id) => delivery["targetClusterId"] = json!(id),
    }
    serde_json::to_vec(&json!({"checkpointId": r.checkpoint_id, "delivery": delivery}))
        .expect("json")
}
