//! The wire errors of each API, in one table per API: every error the server answers is one of
//! these, with its code and HTTP status, so that a status is never a bare number and each
//! service error maps to exactly one wire error. `docs/errors.md` lists them (kept equal to
//! [`errors_md`] by a test).

use axum::http::StatusCode;

macro_rules! codes {
    (
        $(#[$doc:meta])*
        $name:ident {
            $($variant:ident => ($code:literal, $status:literal, $when:literal),)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = $when]
                $variant,
            )*
        }

        impl $name {
            /// Every error of the API, in the order of the table.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The code on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> StatusCode {
                let status: u16 = match self {
                    $($name::$variant => $status,)*
                };
                StatusCode::from_u16(status).expect("the table holds valid statuses")
            }

            /// When it is answered.
            pub fn when(self) -> &'static str {
                match self {
                    $($name::$variant => $when,)*
                }
            }
        }
    };
}

codes! {
    /// The SLS API's errors (`{"errorCode", "errorMessage", "requestId"}`).
    SlsCode {
        ProjectNotExist => ("ProjectNotExist", 404, "The project named by the Host header does not exist."),
        ProjectAlreadyExist => ("ProjectAlreadyExist", 400, "CreateProject of a project that exists."),
        ProjectInfoInvalid => ("ProjectInfoInvalid", 400, "A project's settings are invalid."),
        LogStoreNotExist => ("LogStoreNotExist", 404, "The logstore does not exist."),
        IndexConfigNotExist => ("IndexConfigNotExist", 400, "The logstore has no index configuration (GetIndex, UpdateIndex, DeleteIndex)."),
        IndexAlreadyExist => ("IndexAlreadyExist", 400, "CreateIndex on a logstore that has an index."),
        LogStoreAlreadyExist => ("LogStoreAlreadyExist", 400, "CreateLogStore of a logstore that exists."),
        LogStoreInfoInvalid => ("LogStoreInfoInvalid", 400, "A logstore's settings are invalid (ttl, shardCount, maxSplitShard, …)."),
        ShardNotExist => ("ShardNotExist", 400, "The shard does not exist."),
        InvalidCursor => ("InvalidCursor", 400, "A cursor outside the shard's range, or a negative one."),
        ParameterInvalid => ("ParameterInvalid", 400, "A malformed or out-of-range parameter, or an x-log-signaturemethod other than hmac-sha1 and hmac-sha256."),
        NoSuchApi => ("ParameterInvalid", 404, "No API has this method and path."),
        TargetNotEmpty => ("ParameterInvalid", 400, "A restore into a logstore that holds data."),
        ExceedQuota => ("ExceedQuota", 400, "A limit on the number of logstores, shards or consumer groups."),
        QueryBudget => ("ExceedQuota", 400, "A query past its time or memory budget (`[query]` in the configuration)."),
        PostBodyInvalid => ("PostBodyInvalid", 400, "A body that is not what the API takes: not a LogGroup, no logs, not JSON."),
        PostBodyTooLarge => ("PostBodyTooLarge", 413, "A body, or its decompressed LogGroup, over the limit."),
        PostBodyUncompressError => ("PostBodyUncompressError", 400, "A body that does not decompress as its x-log-compresstype says."),
        InvalidCompressType => ("InvalidCompressType", 400, "An x-log-compresstype other than lz4, zstd, deflate or none."),
        InvalidBodyRawSize => ("InvalidBodyRawSize", 400, "An x-log-bodyrawsize that is not a size."),
        MissingBodyRawSize => ("MissingBodyRawSize", 400, "A compressed body without x-log-bodyrawsize."),
        ConsumerGroupNotExist => ("ConsumerGroupNotExist", 404, "The consumer group does not exist."),
        ConsumerGroupAlreadyExist => ("ConsumerGroupAlreadyExist", 400, "CreateConsumerGroup of a group that exists."),
        ConsumerNotExist => ("ConsumerNotExist", 400, "A checkpoint from a consumer the group does not know."),
        ConsumerNotMatch => ("ConsumerNotMatch", 400, "A checkpoint from a consumer that does not hold the shard."),
        CheckpointNotExist => ("CheckpointNotExist", 404, "No backup checkpoint has this id."),
        RestoreJobNotExist => ("RestoreJobNotExist", 404, "No restore job has this id."),
        Unauthorized => ("Unauthorized", 401, "No Authorization header, or one that is neither a v1 nor a v4 signature; an unsigned web tracking request to a logstore without enable_tracking."),
        InvalidAccessKeyId => ("InvalidAccessKeyId", 401, "The access key id is missing or unknown."),
        SignatureNotMatch => ("SignatureNotMatch", 401, "The signature (or x-log-content-sha256) does not match the request."),
        InvalidContentMd5 => ("InvalidContentMD5", 400, "Content-MD5 is not the MD5 of the body."),
        MissingDate => ("MissingDate", 400, "No signed date: v1 needs Date, v4 x-log-date."),
        InvalidDateFormat => ("InvalidDateFormat", 400, "The request date cannot be parsed."),
        RequestTimeExpired => ("RequestTimeExpired", 400, "The signed request time is more than 15 minutes from the server's."),
        RequestTimeout => ("RequestTimeout", 408, "A request body stalled or took too long (design §15)."),
        ServerBusy => ("ServerBusy", 503, "Out of file descriptors, or no room in the body budget: retry later."),
        DiskFull => ("DiskFull", 507, "The disk is full: nothing was changed; retry once there is space."),
        InternalServerError => ("InternalServerError", 500, "A failure inside the server (a failed shard, an I/O error)."),
    }
}

codes! {
    /// The Atlas-compatible API's errors (`{"detail", "error", "errorCode", "parameters",
    /// "reason"}`).
    AtlasCode {
        GroupNotFound => ("GROUP_NOT_FOUND", 404, "No group (project) has this id or name."),
        ClusterNameNotFound => ("CLUSTER_NAME_NOT_FOUND", 404, "No cluster (logstore) of the group has this name."),
        ClusterNotFound => ("CLUSTER_NOT_FOUND", 404, "No cluster of the target group has this id (restoreJobs with targetClusterId)."),
        CheckpointNotFound => ("CHECKPOINT_NOT_FOUND", 404, "No backup checkpoint of the cluster has this id."),
        RestoreJobNotFound => ("RESTORE_JOB_NOT_FOUND", 404, "No restore job of the cluster has this id."),
        ResourceNotFound => ("RESOURCE_NOT_FOUND", 404, "No resource has this path."),
        MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405, "The resource exists but does not take this method."),
        CannotRestoreToTarget => ("CANNOT_RESTORE_TO_TARGET", 403, "A restore into a cluster that holds data."),
        InvalidAttribute => ("INVALID_ATTRIBUTE", 400, "An attribute of the body (or a setting) that is unknown, of the wrong type or out of range."),
        MissingAttribute => ("MISSING_ATTRIBUTE", 400, "A required attribute of the body is missing."),
        AttributeReadOnly => ("ATTRIBUTE_READ_ONLY", 400, "An attribute that cannot be changed."),
        InvalidQueryParameter => ("INVALID_QUERY_PARAMETER", 400, "A query parameter (pretty, envelope, pageNum, itemsPerPage, includeCount) that is not valid."),
        InvalidJson => ("INVALID_JSON", 400, "A body that is not a JSON object."),
        UnsupportedDeliveryMethod => ("UNSUPPORTED_DELIVERY_METHOD", 400, "A restore delivery other than AUTOMATED_RESTORE."),
        Unauthorized => ("UNAUTHORIZED", 401, "No, malformed, wrong or stale HTTP Digest credentials (answered with a challenge)."),
        RequestBodyTooLarge => ("REQUEST_BODY_TOO_LARGE", 413, "A body over 64 KiB."),
        RequestTimeout => ("REQUEST_TIMEOUT", 408, "A request body stalled or took too long (design §15)."),
        ServerBusy => ("SERVER_BUSY", 503, "Out of file descriptors, or no room in the body budget: retry later."),
        InsufficientDiskSpace => ("INSUFFICIENT_DISK_SPACE", 507, "The disk is full: nothing was changed; retry once there is space."),
        UnexpectedError => ("UNEXPECTED_ERROR", 500, "A failure inside the server."),
    }
}

/// `docs/errors.md`: every wire error of every API.
pub fn errors_md() -> String {
    let mut s = String::from(
        "# Wire errors\n\n\
         Every error Cairn answers, per API: the code on the wire, the HTTP status, and when. \
         Generated from `src/http/codes.rs` (a test keeps this file equal to it).\n\n\
         ## SLS API\n\n\
         Body: `{\"errorCode\": <code>, \"errorMessage\": <text>, \"requestId\": <id>}`.\n\n\
         | code | status | when |\n|---|---|---|\n",
    );
    for c in SlsCode::ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.as_str(),
            c.status().as_u16(),
            c.when()
        ));
    }
    s.push_str(
        "\n## Atlas-compatible API\n\n\
         Body: `{\"detail\": <text>, \"error\": <status>, \"errorCode\": <code>, \"parameters\": [..], \
         \"reason\": <status text>}`.\n\n\
         | code | status | when |\n|---|---|---|\n",
    );
    for c in AtlasCode::ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.as_str(),
            c.status().as_u16(),
            c.when()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_errors_md_lists_every_wire_error() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md");
        let expected = errors_md();
        if std::env::var_os("CAIRN_WRITE_DOCS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let found = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            found == expected,
            "docs/errors.md is not what src/http/codes.rs says; run \
             `CAIRN_WRITE_DOCS=1 cargo test --lib docs_errors_md` and commit the file"
        );
    }
}
