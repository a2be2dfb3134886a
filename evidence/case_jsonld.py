"""The CASE/UCO (https://caseontology.org) description of an export: files, hashes, tools, derivations.

One ``case-investigation:Investigation`` (the case) holds every node: each exported file as an
``observable:File`` with its name, size and SHA-256; the tools (this system, and the ffmpeg that cut
each clip, as its custody log names it); for each clip an ``InvestigativeAction`` whose object is the
original and whose result is a ``ProvenanceRecord`` holding the clip (likewise each proxy); and the
export itself as an action by the exporter with this system, its result the package's provenance
record. Node ids are UUIDs derived from the case, the item and the checkpoint, so the same export
gives the same graph. ``case_validate`` (case-utils) passes on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from evidence.export_plan import Member, Snapshot

CONTEXT = {
    "kb": "urn:evidence-export:",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_NS = uuid.UUID("6f0c8e2a-54a1-4c1e-9d0e-0e5d6c1b7a10")


def _time(moment: datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


class _Ids:
    """Stable node ids: the same export names the same things the same way."""

    def __init__(self, snap: Snapshot) -> None:
        self.seed = f"{snap.case_number}|{snap.tree_size}|{snap.root_hash}"

    def __call__(self, kind: str, *parts: object) -> str:
        return f"kb:{kind}-{uuid.uuid5(_NS, '|'.join([self.seed, kind, *map(str, parts)]))}"


def _file(ids: _Ids, key: str, path: str, sha256: str, size: int, extra: str | None = None) -> dict[str, Any]:
    name = PurePosixPath(path).name
    node: dict[str, Any] = {
        "@id": ids("File", key),
        "@type": "uco-observable:File",
        "uco-core:hasFacet": [
            {
                "@id": ids("FileFacet", key),
                "@type": "uco-observable:FileFacet",
                "uco-observable:fileName": name,
                "uco-observable:filePath": path,
                "uco-observable:extension": PurePosixPath(name).suffix.lstrip("."),
                "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(size)},
            },
            {
                "@id": ids("ContentDataFacet", key),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(size)},
                "uco-observable:hash": [
                    {
                        "@id": ids("Hash", key),
                        "@type": "uco-types:Hash",
                        "uco-types:hashMethod": "SHA256",
                        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": sha256.upper()},
                    }
                ],
            },
        ],
    }
    if extra:
        node["uco-core:description"] = extra
    return node


def _tool(ids: _Ids, name_version: str, tool_type: str) -> dict[str, Any]:
    name, _, version = name_version.partition(" ")
    node: dict[str, Any] = {
        "@id": ids("Tool", name_version),
        "@type": "uco-tool:Tool",
        "uco-core:name": name,
        "uco-tool:toolType": tool_type,
    }
    if version:
        node["uco-tool:version"] = version
    return node


def _describe(m: Member) -> str:
    what = {"original": "original recording", "clip": "evidence clip", "source": "original recording"}[m.role]
    text = f"item {m.item_id}: {what} from recorder {m.device or 'unknown'}, stored as {m.original_filename}"
    if m.role == "source":
        text += " (not linked to the case itself: a linked clip was cut from it)"
    return text


def graph(
    snap: Snapshot, proxies: dict[int, tuple[str, int]], *, exporter: str, made_at: datetime, software: str
) -> dict[str, Any]:
    """The JSON-LD document for ``snap``; ``proxies``: item id -> (sha256, size) of exported proxies."""
    ids = _Ids(snap)
    nodes: list[dict[str, Any]] = []
    system = _tool(ids, software, "evidence management system (ingest, custody log, export)")
    nodes.append(system)
    exporter_node = {"@id": ids("Identity", exporter), "@type": "uco-identity:Identity", "uco-core:name": exporter}
    nodes.append(exporter_node)
    files: dict[int, str] = {}
    tools: dict[str, dict[str, Any]] = {}
    for m in snap.members:
        if not m.path:
            continue
        node = _file(ids, f"item{m.item_id}", m.path, m.sha256, m.size, _describe(m))
        files[m.item_id] = node["@id"]
        nodes.append(node)
    for m in snap.members:
        source = files.get(m.derived_from) if m.derived_from is not None else None
        if m.role == "clip" and m.item_id in files and source is not None:
            tool_name = m.clip_tool or "ffmpeg"
            tool = tools.setdefault(tool_name, _tool(ids, tool_name, "media transcoder"))
            record: dict[str, Any] = {
                "@id": ids("ProvenanceRecord", f"clip{m.item_id}"),
                "@type": "case-investigation:ProvenanceRecord",
                "uco-core:description": f"evidence clip item {m.item_id} of item {m.derived_from}",
                "uco-core:object": [_ref(files[m.item_id])],
            }
            action = {
                "@id": ids("InvestigativeAction", f"clip{m.item_id}"),
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": "cut evidence clip",
                "uco-core:description": (
                    f"frames {m.clip_start_s}-{m.clip_end_s} s of item {m.derived_from}, re-encoded frame-accurately; "
                    f"the original was read, not changed. Arguments: {' '.join(m.clip_args) or 'see custody log'}"
                ),
                "uco-action:instrument": [_ref(tool["@id"]), _ref(system["@id"])],
                "uco-action:object": [_ref(source)],
                "uco-action:result": [_ref(files[m.item_id]), _ref(record["@id"])],
            }
            nodes += [record, action]
        if m.item_id in proxies and m.proxy_path and m.item_id in files:
            sha, size = proxies[m.item_id]
            proxy = _file(ids, f"proxy{m.item_id}", m.proxy_path, sha, size, f"viewing copy of item {m.item_id}")
            record = {
                "@id": ids("ProvenanceRecord", f"proxy{m.item_id}"),
                "@type": "case-investigation:ProvenanceRecord",
                "uco-core:description": f"viewing copy (proxy) of item {m.item_id}; not evidence itself",
                "uco-core:object": [_ref(proxy["@id"])],
            }
            action = {
                "@id": ids("InvestigativeAction", f"proxy{m.item_id}"),
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": "make viewing copy",
                "uco-action:instrument": [_ref(system["@id"])],
                "uco-action:object": [_ref(files[m.item_id])],
                "uco-action:result": [_ref(proxy["@id"]), _ref(record["@id"])],
            }
            nodes += [proxy, record, action]
    nodes += tools.values()
    package: dict[str, Any] = {
        "@id": ids("ProvenanceRecord", "export"),
        "@type": "case-investigation:ProvenanceRecord",
        "uco-core:description": (
            f"signed export package of case {snap.case_number}; custody log checkpoint of "
            f"{snap.tree_size} events, root {snap.root_hash}"
        ),
        "uco-core:object": [_ref(f) for f in files.values()] or [_ref(system["@id"])],
    }
    export_action = {
        "@id": ids("InvestigativeAction", "export"),
        "@type": "case-investigation:InvestigativeAction",
        "uco-core:name": "export",
        "uco-core:description": "files copied bit for bit from the evidence store, hashed and compared on the way",
        "uco-action:startTime": _time(made_at),
        "uco-action:performer": _ref(exporter_node["@id"]),
        "uco-action:instrument": [_ref(system["@id"])],
        "uco-action:object": [_ref(f) for f in files.values()] or [_ref(system["@id"])],
        "uco-action:result": [_ref(package["@id"])],
    }
    nodes += [package, export_action]
    investigation = {
        "@id": ids("Investigation", snap.case_number),
        "@type": "case-investigation:Investigation",
        "uco-core:name": snap.case_number,
        "uco-core:description": snap.case_title,
        "case-investigation:investigationForm": "case",
        "uco-core:object": [_ref(n["@id"]) for n in nodes],
    }
    return {"@context": CONTEXT, "@graph": [investigation, *nodes]}
