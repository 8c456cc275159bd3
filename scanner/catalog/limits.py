"""Caps that keep cataloging a hostile image bounded in time and memory, whatever its files hold.

The peer of `scanner.image.limits.Limits`, which bounds reading the image: these bound what the
catalogers do with the files they are handed. Every cap a cataloger applies is a field here, and every
warning about one names the field (`(cap max_stanza_lines)`). Exceeding a cap skips that artefact
(a stanza, a header's file list, a nested archive, a record) with a warning; the rest of the
ecosystem is still reported. Each cataloger takes a `CatalogLimits` when built; the registered ones
use these defaults, chosen at several times the largest real inputs measured.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class CatalogLimits:
    # Largest file each cataloger asks the image reader for; a larger one is not read (the reader warns).
    max_os_database_size: int = 256 * MIB  # dpkg status, status.d/*, info/*.list; apk installed
    max_rpm_database_size: int = 2 * GIB  # streamed page by page or copied to a temporary file, never held whole
    max_license_file_size: int = 8 * MIB  # usr/share/doc/*/copyright
    max_release_file_size: int = 64 * KIB  # os-release and the other distro release files
    # Red Hat content manifests (root/buildinfo/content_manifests/*.json, a few KiB each), and how many are read.
    max_content_manifest_size: int = 4 * MIB
    max_content_manifests: int = 64
    max_content_sets: int = 1_000  # distinct content sets kept (real images name a handful)
    max_busybox_size: int = 4 * MIB
    max_archive_size: int = 4 * GIB  # a jar, war, ear ... in the image
    max_executable_size: int = 1 * GIB  # ELF files read for Go and Rust build data (read through seeks)
    max_npm_manifest_size: int = 4 * MIB  # node_modules/*/package.json
    max_lockfile_size: int = 64 * MIB  # package-lock.json, composer.lock, installed.json, *.deps.json
    max_python_metadata_size: int = 8 * MIB  # METADATA, PKG-INFO
    max_python_record_size: int = 32 * MIB  # RECORD
    max_gemspec_size: int = 1 * MIB
    max_gemfile_lock_size: int = 16 * MIB

    # Per cataloger and image (for an OS cataloger: per package database).
    max_packages: int = 50_000  # real images hold a few thousand per ecosystem
    max_owned_paths: int = 2_000_000  # file list entries of one package database (real ones: a few 100,000)
    max_warnings: int = 200  # kept verbatim; the rest are counted in one last warning
    max_warning_length: int = 2_000  # characters of one warning (names from the image can be huge)

    # dpkg and apk databases: stanzas (paragraphs) separated by blank lines, read as a stream.
    # Records (stanzas, rpm headers, table rows, slots) of one database file, packages or not: the rest is not read.
    max_records: int = 200_000
    max_stanza_size: int = 16 * MIB  # bytes of one stanza (the largest real ones are a few hundred KiB)
    max_stanza_lines: int = 500_000  # an apk stanza has two lines per file it owns
    max_stanza_fields: int = 1_000  # distinct field lines of one dpkg stanza (about 20 in real ones)
    # A value kept in a package record (name, version, licence, maintainer ...): keeps each record small.
    max_field_length: int = 4 * KIB
    max_licenses: int = 256  # licences kept for one package (a large DEP-5 copyright file lists a hundred)
    # One package's file list (dpkg .list or md5sums, rpm BASENAMES with DIRNAMES): entries, and the
    # bytes of its paths joined (one long rpm directory name shared by every file counts each time).
    max_package_files: int = 200_000
    max_file_list_bytes: int = 16 * MIB

    # rpm
    max_rpm_header_size: int = 64 * MIB  # one header blob (rpm's own ceiling is 256 MiB)

    # Java archives and the archives nested in them.
    max_archive_depth: int = 5  # nesting below the image file, which is depth 0
    max_nested_archive_size: int = 512 * MIB  # one nested archive, inflated
    max_nested_archives: int = 4_096  # nested archives one archive may hold
    max_central_directory_size: int = 32 * MIB  # one archive's member list (about 300,000 members)
    max_metadata_member_size: int = 1 * MIB  # one MANIFEST.MF or pom.properties, inflated
    max_identity_files: int = 1_024  # pom.properties in one archive (one per library a shaded jar holds)
    max_metadata_bytes: int = 16 * MIB  # MANIFEST.MF and pom.properties of one archive together, inflated
    max_inflated_bytes: int = 2 * GIB  # inflated below one image file
    max_inflated_bytes_per_image: int = 8 * GIB  # inflated below all archives of the image
    max_archives_per_image: int = 50_000  # archives opened, nested ones included
    max_archive_members_per_image: int = 10_000_000  # members looked at, over every archive opened

    # JSON documents (package.json, lockfiles, installed.json, deps.json, .dep-v0). Nesting is bounded
    # by the interpreter's recursion guard, which the parser hits near 1,000 levels.
    max_json_values: int = 4_000_000  # values in one document: each costs 30 to 70 bytes once parsed
    max_npm_lock_depth: int = 64  # nested `dependencies` of a v1 lockfile

    # Build data in executables.
    max_elf_headers: int = 65_536  # section or program headers of one ELF file (extended numbering: up to 2**32)
    max_elf_names: int = 4 * MIB  # an ELF file's section-name string table
    max_go_buildinfo_size: int = 4 * MIB  # .go.buildinfo and each string it points to
    max_dep_v0_size: int = 8 * MIB  # compressed .dep-v0 section
    max_dep_v0_inflated: int = 64 * MIB


DEFAULT_LIMITS = CatalogLimits()
