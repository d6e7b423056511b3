"""What an events input holds, told from its content, never from its name.

Exports come with the names their vendor gives them: BigQuery shards
(`events-000000000000.json.gz`), Segment's S3 objects (`1701620297000.8d5163c9.gz`, gzip
JSON Lines), Snowplow's enriched `.tsv` (no header). A file is gzip when it starts with
gzip's magic bytes (its content is then looked at), Parquet when it starts with `PAR1`,
JSON Lines when its first character is `{`, and otherwise delimited text: tab separated
when its first line has more tabs than commas, else CSV. A tab-separated file of 100 or
more fields whose first line is not a header is Snowplow's enriched event format, whose
columns are named after the documented order (`SNOWPLOW_ENRICHED_COLUMNS`).

A folder is read as the shards of one input: every file under it, in name order, except
hidden ones and markers (names starting with `.` or `_`, such as Spark's `_SUCCESS`);
empty files hold no rows and are skipped. All its shards must hold the same format.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from features.errors import ConfigError, DataQualityError

__all__ = ["SNOWPLOW_ENRICHED_COLUMNS", "Format", "Source", "detect_source", "is_gzip"]

Format = Literal["csv", "tsv", "snowplow_tsv", "parquet", "jsonl"]
_DESCRIBED: dict[Format, str] = {
    "csv": "CSV",
    "tsv": "tab-separated text",
    "snowplow_tsv": "Snowplow enriched events (TSV without a header)",
    "parquet": "Parquet",
    "jsonl": "JSON Lines",
}
_SUPPORTED = "CSV, TSV (Snowplow enriched events too), JSON Lines or Parquet, plain or gzip"
_HEAD_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_ENRICHED_MIN_FIELDS = 100  # the enriched format has 131; a hand-made TSV has far fewer

# Snowplow's enriched event TSV: the documented field order of the canonical event model
# (the same order as atomic.events), 131 fields since true_tstamp was added.
SNOWPLOW_ENRICHED_COLUMNS: tuple[str, ...] = (
    *("app_id", "platform", "etl_tstamp", "collector_tstamp", "dvce_created_tstamp"),
    *("event", "event_id", "txn_id", "name_tracker", "v_tracker", "v_collector", "v_etl"),
    *("user_id", "user_ipaddress", "user_fingerprint", "domain_userid", "domain_sessionidx"),
    *("network_userid", "geo_country", "geo_region", "geo_city", "geo_zipcode", "geo_latitude"),
    *("geo_longitude", "geo_region_name", "ip_isp", "ip_organization", "ip_domain", "ip_netspeed"),
    *("page_url", "page_title", "page_referrer", "page_urlscheme", "page_urlhost", "page_urlport"),
    *("page_urlpath", "page_urlquery", "page_urlfragment", "refr_urlscheme", "refr_urlhost"),
    *("refr_urlport", "refr_urlpath", "refr_urlquery", "refr_urlfragment", "refr_medium"),
    *("refr_source", "refr_term", "mkt_medium", "mkt_source", "mkt_term", "mkt_content"),
    *("mkt_campaign", "contexts", "se_category", "se_action", "se_label", "se_property"),
    *("se_value", "unstruct_event", "tr_orderid", "tr_affiliation", "tr_total", "tr_tax"),
    *("tr_shipping", "tr_city", "tr_state", "tr_country", "ti_orderid", "ti_sku", "ti_name"),
    *("ti_category", "ti_price", "ti_quantity", "pp_xoffset_min", "pp_xoffset_max"),
    *("pp_yoffset_min", "pp_yoffset_max", "useragent", "br_name", "br_family", "br_version"),
    *("br_type", "br_renderengine", "br_lang", "br_features_pdf", "br_features_flash"),
    *("br_features_java", "br_features_director", "br_features_quicktime"),
    *("br_features_realplayer", "br_features_windowsmedia", "br_features_gears"),
    *("br_features_silverlight", "br_cookies", "br_colordepth", "br_viewwidth", "br_viewheight"),
    *("os_name", "os_family", "os_manufacturer", "os_timezone", "dvce_type", "dvce_ismobile"),
    *("dvce_screenwidth", "dvce_screenheight", "doc_charset", "doc_width", "doc_height"),
    *("tr_currency", "tr_total_base", "tr_tax_base", "tr_shipping_base", "ti_currency"),
    *("ti_price_base", "base_currency", "geo_timezone", "mkt_clickid", "mkt_network", "etl_tags"),
    *("dvce_sent_tstamp", "refr_domain_userid", "refr_dvce_tstamp", "derived_contexts"),
    *("domain_sessionid", "derived_tstamp", "event_vendor", "event_name", "event_format"),
    *("event_version", "event_fingerprint", "true_tstamp"),
)


@dataclass(frozen=True)
class Source:
    """An events input: one file, or a folder of shards, and the format they hold."""

    path: Path
    format: Format
    files: tuple[Path, ...]  # the data files in reading order

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def is_gzip(file: Path) -> bool:
    with open(file, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def detect_source(path: Path) -> Source:
    """The format of a file or a folder of shards, from their content."""
    if not path.exists():
        raise ConfigError(f"events not found: {path}")
    if not path.is_dir():
        fmt = _sniff(path)
        if fmt is None:
            raise DataQualityError(f"{path} is empty (0 bytes): there are no events to read")
        return Source(path, fmt, (path,))
    shards = [(file, _sniff(file)) for file in _data_files(path)]
    found = [(file, fmt) for file, fmt in shards if fmt is not None]
    if not found:
        raise ConfigError(f"no event files in the directory {path} (hidden and `_` files are skipped)")
    first_file, first = found[0]
    for file, fmt in found[1:]:
        if fmt != first:
            raise ConfigError(
                f"the shards in {path} mix formats: {first_file.name} holds {_DESCRIBED[first]}, "
                f"{file.name} holds {_DESCRIBED[fmt]}; a folder must hold one format"
            )
    return Source(path, first, tuple(file for file, _ in found))


def _data_files(folder: Path) -> list[Path]:
    files = (p for p in folder.rglob("*") if p.is_file())
    return sorted(
        (p for p in files if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)),
        key=lambda p: p.relative_to(folder).parts,
    )


def _sniff(file: Path) -> Format | None:
    """The format of one file from its first bytes; None when it is empty."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
        if head.startswith(_GZIP_MAGIC):
            with gzip.open(file, "rb") as unzipped:
                head = unzipped.read(_HEAD_BYTES)
        elif head.startswith(_PARQUET_MAGIC):
            return "parquet"
    except (OSError, EOFError, zlib.error) as exc:
        raise DataQualityError(f"cannot read events from {file}: {exc}") from None
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        return None
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith(b"["):
        raise ConfigError(
            f"{file} holds a JSON array; events in JSON must be JSON Lines, one object per line "
            "(for example: jq -c '.[]' FILE > events.jsonl)"
        )
    if b"\x00" in head:
        raise ConfigError(
            f"cannot tell the format of {file} from its content (binary data); supported: {_SUPPORTED}"
        )
    first_line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if first_line.count("\t") > first_line.count(","):
        fields = first_line.rstrip("\r").split("\t")
        header = "collector_tstamp" in fields or "event_id" in fields
        return "snowplow_tsv" if len(fields) >= _ENRICHED_MIN_FIELDS and not header else "tsv"
    return "csv"
