"""The vulnerability database schema: the contract between dbbuilder (writer) and scanner (reader).

Documented in docs/database.md. The version follows MODEL.REVISION.ADDITION: a scanner refuses an
unknown MODEL, reads any REVISION of its MODEL, and ignores tables or columns a newer ADDITION adds.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.2.0"  # 1.1.0 added providers.captured_at_basis and the coverage table; 1.2.0 the kev and
# epss tables (CISA KEV, FIRST EPSS)
SCHEMA_MODEL = 1
# The coverage table's name for what NVD's CPE configurations cover (the opt-in CPE matcher): no package
# ecosystem, so CPE data never makes a distro release or a language ecosystem complete.
CPE_ECOSYSTEM = "CPE"
# The provider names of the exploitation feeds (tables `kev` and `epss`), as the providers table and the
# manifest list them: how a scanner tells whether a bundle carries a KEV catalog at all.
KEV_PROVIDER, EPSS_PROVIDER = "kev", "epss"

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
    ecosystems TEXT NOT NULL DEFAULT '{}',  -- JSON object: ecosystem -> records with a package there
    captured_at_basis TEXT NOT NULL DEFAULT 'records'  -- where captured_at comes from: given (by the
                                    -- operator), feed (the feed's own timestamp), records (newest record
                                    -- date), unknown (no date anywhere: captured_at is the epoch)
);
CREATE TABLE coverage (
    provider TEXT NOT NULL,         -- providers.name
    ecosystem TEXT NOT NULL,        -- as in affected.ecosystem; "CPE" for NVD's CPE configurations
    records INTEGER NOT NULL,       -- the provider's records with a package (or a CPE) there
    newest TEXT,                    -- RFC 3339: the newest `modified` among them; NULL when undated
    complete INTEGER NOT NULL,      -- 1: the input is a whole export of this ecosystem, or the operator
                                    -- declared it one (dbbuilder build --complete); 0: loose records
    basis TEXT NOT NULL,            -- why: "OSV PyPI/all.zip", "Debian DSA list", "--complete", ...
    PRIMARY KEY (provider, ecosystem)
) WITHOUT ROWID;
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
CREATE TABLE kev (                  -- CISA's Known Exploited Vulnerabilities catalog (provider "kev")
    cve TEXT PRIMARY KEY,           -- CVE-YYYY-NNNN
    date_added TEXT NOT NULL,       -- YYYY-MM-DD
    due_date TEXT NOT NULL,         -- YYYY-MM-DD
    known_ransomware_use TEXT NOT NULL,  -- "Known" or "Unknown", as the catalog says
    required_action TEXT NOT NULL,
    vendor_project TEXT NOT NULL,
    product TEXT NOT NULL,
    name TEXT NOT NULL              -- the catalog's vulnerabilityName
) WITHOUT ROWID;
CREATE TABLE epss (                 -- FIRST EPSS scores (provider "epss"); their date is meta epss_score_date
    cve TEXT PRIMARY KEY,
    score REAL NOT NULL,            -- probability of exploitation activity in the next 30 days, 0 to 1
    percentile REAL NOT NULL        -- 0 to 1
) WITHOUT ROWID;
"""
