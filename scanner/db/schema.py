"""The vulnerability database schema: the contract between dbbuilder (writer) and scanner (reader).

Documented in docs/database.md. The version follows MODEL.REVISION.ADDITION: a scanner refuses an
unknown MODEL, reads any REVISION of its MODEL, and ignores tables or columns a newer ADDITION adds.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.0.0"
SCHEMA_MODEL = 1

# Narrow rows for lookup; long text lives in `details`, read only for findings.
DDL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE providers (
    name TEXT PRIMARY KEY,          -- osv, nvd, debian, alpine
    captured_at TEXT NOT NULL,      -- RFC 3339, when the provider's data was captured
    input_sha256 TEXT NOT NULL,     -- digest over the provider's input files, in path order
    records INTEGER NOT NULL,       -- records kept
    skipped INTEGER NOT NULL,       -- records skipped
    skipped_reasons TEXT NOT NULL,  -- JSON object: reason -> count
    withdrawn INTEGER NOT NULL DEFAULT 0,   -- records kept but withdrawn (never matched)
    ecosystems TEXT NOT NULL DEFAULT '{}'   -- JSON object: ecosystem -> records with a package there
);
CREATE TABLE vulnerabilities (
    id TEXT PRIMARY KEY,            -- record id as published: CVE-..., GHSA-..., PYSEC-..., DSA-...
    provider TEXT NOT NULL,
    group_id TEXT NOT NULL,         -- alias group: the CVE id when the group has one, else the smallest id
    withdrawn TEXT,                 -- RFC 3339 when withdrawn (never matched), else NULL
    published TEXT,
    modified TEXT,
    severity TEXT,                  -- the record's own text rating (distro or GHSA), lower case, or NULL
    summary TEXT
);
CREATE INDEX vulnerabilities_group ON vulnerabilities(group_id);
CREATE TABLE aliases (
    group_id TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (group_id, id)
) WITHOUT ROWID;
CREATE INDEX aliases_id ON aliases(id);
CREATE TABLE affected (
    vuln_id TEXT NOT NULL,          -- vulnerabilities.id
    ecosystem TEXT NOT NULL,        -- OSV ecosystem with release: "PyPI", "Debian:12", "Alpine:v3.18"
    package TEXT NOT NULL,          -- normalised name (PEP 503 for PyPI, lower case where the ecosystem is
                                    -- case-insensitive); the SOURCE package for distro ecosystems
    ranges TEXT,                    -- compact JSON of OSV `ranges` ([{"type","events"}]), NULL when none
    versions TEXT,                  -- compact JSON list of explicitly affected versions, NULL when none
    fix_state TEXT NOT NULL,        -- scanner.model.FixState value
    fixed TEXT,                     -- compact JSON list of fixed versions (for reports), NULL when none
    severity TEXT                   -- per-package rating (Debian urgency, Ubuntu priority), or NULL
);
CREATE INDEX affected_lookup ON affected(ecosystem, package);
CREATE TABLE severities (
    vuln_id TEXT NOT NULL,
    source TEXT NOT NULL,           -- nvd, or the record's provider
    type TEXT NOT NULL,             -- CVSS_V4, CVSS_V3, CVSS_V2
    vector TEXT NOT NULL,
    score REAL                      -- base score computed with the `cvss` library
);
CREATE INDEX severities_vuln ON severities(vuln_id);
CREATE TABLE details (
    vuln_id TEXT PRIMARY KEY,
    details TEXT,
    refs TEXT,                      -- compact JSON list of URLs
    cwes TEXT,                      -- compact JSON list of CWE ids
    upstream TEXT,                  -- compact JSON list: ids this record derives from (OSV `upstream`)
    related TEXT                    -- compact JSON list: related but different vulnerabilities (never grouped)
);
CREATE TABLE cpes (
    vuln_id TEXT NOT NULL,
    vendor TEXT NOT NULL,
    product TEXT NOT NULL,
    criteria TEXT NOT NULL,         -- the full cpe:2.3 string
    version_start_including TEXT,
    version_start_excluding TEXT,
    version_end_including TEXT,
    version_end_excluding TEXT
);
CREATE INDEX cpes_product ON cpes(product, vendor);
"""
