// What the dashboard says about a file, in words: sizes, times, kinds, the
// extracted fields, and why something failed. No DOM here.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function formatSize(bytes) {
  if (bytes == null) return "";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
  if (!unit) return `${value} B`;
  return `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const RELATIVE = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const STEPS = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];

export function relativeTime(iso, now = Date.now()) {
  let value = (Date.parse(iso) - now) / 1000;
  if (Math.abs(value) < 45) return "just now";
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return RELATIVE.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

export function exactTime(iso) {
  return new Date(iso).toLocaleString("en", { dateStyle: "medium", timeStyle: "medium" });
}

// A playing time as a player shows it: 3:07, or 1:02:03 past an hour.
export function formatPlayingTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, "0")}`;
  return s < 3600 ? mmss : `${Math.floor(s / 3600)}:${mmss.padStart(5, "0")}`;
}

// A short label for the kind icon: what the worker found, else what the name says.
const LABELS = { image: "IMG", pdf: "PDF", csv: "CSV", tsv: "TSV", json: "JSON", jsonl: "JSONL", parquet: "PARQ",
  text: "TXT", zip: "ZIP", docx: "DOC", xlsx: "XLS", pptx: "PPT", binary: "BIN", heif: "IMG", audio: "AUD", video: "VID" };

export function kindLabel(file) {
  if (file.metadata?.kind) return LABELS[file.metadata.kind] || file.metadata.kind.slice(0, 4).toUpperCase();
  const extension = /\.([a-z0-9]{1,4})$/i.exec(file.filename || file.name || "");
  return extension ? extension[1].toUpperCase() : "FILE";
}

const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
const counted = (exact, estimated, word) => (exact != null ? plural(exact, word) : `about ${plural(estimated ?? 0, word)}`);

// A one-line summary of the extracted metadata, by kind.
export function describe(metadata) {
  const m = metadata;
  if (!m) return "";
  switch (m.kind) {
    case "image": case "heif": return `${m.format} ${m.width}×${m.height}${m.exif?.model ? `, ${m.exif.model}` : ""}`;
    case "audio": return [m.container, formatPlayingTime(m.durationSeconds), m.title].filter(Boolean).join(", ");
    case "video": return [m.container, m.video ? `${m.video.width}×${m.video.height}` : null,
      formatPlayingTime(m.durationSeconds)].filter(Boolean).join(", ");
    case "pdf": return `${plural(m.pages ?? 0, "page")}${m.title ? `, “${m.title}”` : ""}${m.encrypted ? ", encrypted" : ""}`;
    case "csv": case "tsv": return `${counted(m.rows, m.rowsEstimated, "row")} × ${plural(m.columnCount ?? 0, "column")}`;
    case "json": return m.topLevel === "array" ? `array of ${counted(m.length, m.lengthEstimated, "item")}`
      : m.topLevel === "object" ? `object, ${plural(m.keys?.length ?? 0, "key")}` : "not valid JSON";
    case "jsonl": return `${counted(m.records, m.recordsEstimated, "record")}${m.valid === false ? ", some lines not JSON" : ""}`;
    case "parquet": return `${plural(m.rows ?? 0, "row")} × ${plural(m.columnCount ?? 0, "column")}`;
    case "text": return `${counted(m.lines, m.linesEstimated, "line")}, ${m.encoding}`;
    case "zip": case "docx": case "xlsx": case "pptx": return `${m.kind.toUpperCase()}, ${m.entries} ${m.entries === 1 ? "entry" : "entries"}`;
    default: return m.kind === "binary" ? "binary data" : m.kind;
  }
}

const yesNo = (value) => (value == null ? "unknown" : value ? "yes" : "no");

// Column types as a small table ({ head, rows }), with a caption saying
// what they were inferred from; null when there are none.
export function columnTable(m) {
  const columns = m?.columnTypes;
  if (!columns?.length) return null;
  const type = (column) => column.type ?? "empty";
  if (m.kind === "parquet") {
    return { caption: "From the file's own schema.", head: ["Column", "Type", "Stored as", "Nullable"],
      rows: columns.map((c) => [c.name, type(c), c.physicalType ?? "", c.nullable ? "yes" : "no"]) };
  }
  const sample = m.typeSample;
  const caption = sample ? `Inferred from ${sample.wholeFile ? "all" : "the first"} ${plural(sample.rows, "row")}.` : "";
  if (m.kind === "json" || m.kind === "jsonl") {
    return { caption, head: ["Key", "Type", "Present in", "Null"],
      rows: columns.map((c) => [c.name, type(c), (c.present ?? 0).toLocaleString("en"), (c.nulls ?? 0).toLocaleString("en")]) };
  }
  return { caption, head: ["Column", "Type", "Empty"],
    rows: columns.map((c) => [c.name, type(c), (c.nulls ?? 0).toLocaleString("en")]) };
}

// EXIF's Orientation tag (EXIF 2.32, 4.6.4 A), in exiftool's words, which
// photographers know. The thumbnail is already upright (the worker applies the
// tag; libheif applies a HEIF's own rotation).
const ORIENTATIONS = {
  1: "Horizontal (normal)", 2: "Mirror horizontal", 3: "Rotate 180", 4: "Mirror vertical",
  5: "Mirror horizontal and rotate 270 CW", 6: "Rotate 90 CW", 7: "Mirror horizontal and rotate 90 CW",
  8: "Rotate 270 CW",
};

export function orientationOf(tag) {
  return tag == null ? null : ORIENTATIONS[tag] ?? `unknown (${tag})`;
}

// Every extracted field, as [label, value] pairs; a value may be a list.
export function fieldsOf(metadata) {
  const m = metadata;
  if (!m) return [];
  const fields = [];
  const add = (label, value) => { if (value != null && value !== "" && !(Array.isArray(value) && !value.length)) fields.push([label, value]); };
  switch (m.kind) {
    case "image": case "heif":
      add("Dimensions", `${m.width} × ${m.height} px`);
      add("Format", m.format);
      add("Colour mode", m.mode);
      if (m.frames > 1) add("Frames", m.frames);
      add("Camera", [m.exif?.make, m.exif?.model].filter(Boolean).join(" ") || null);
      add("Taken", m.exif?.dateTimeOriginal);
      add("Orientation", orientationOf(m.exif?.orientation));
      if (m.exif) add("Location data", m.exif.hasGps ? "present" : "none");
      break;
    case "pdf":
      add("Pages", m.pages);
      add("Title", m.title);
      add("Author", m.author);
      add("Producer", m.producer);
      add("Created", m.creationDate);
      add("PDF version", m.pdfVersion);
      add("Encrypted", yesNo(m.encrypted));
      add("Preview", m.preview);
      break;
    case "audio": case "video":
      add("Duration", formatPlayingTime(m.durationSeconds));
      add("Container", m.container);
      add("Video", m.video ? `${m.video.codec}, ${m.video.width} × ${m.video.height} px${m.video.frameRate ? `, ${m.video.frameRate} fps` : ""}` : null);
      add("Audio", m.audio ? [m.audio.codec, m.audio.sampleRate && `${m.audio.sampleRate / 1000} kHz`,
        m.audio.channels && (m.audio.channels === 1 ? "mono" : m.audio.channels === 2 ? "stereo" : `${m.audio.channels} channels`)]
        .filter(Boolean).join(", ") : null);
      add("Bit rate", m.bitrate ? `${Math.round(m.bitrate / 1000)} kb/s` : null);
      add("Title", m.title);
      add("Artist", m.artist);
      add("Album", m.album);
      add("Recorded", m.creationTime);
      break;
    case "csv": case "tsv":
      add("Rows", counted(m.rows, m.rowsEstimated, "row"));
      add("Columns", m.columnCount);
      // The table names them too.
      if (!m.columnTypes?.length) add("Column names", m.columns);
      add("Column types", columnTable(m));
      add("Delimiter", m.delimiter === "\t" ? "tab" : m.delimiter);
      add("Encoding", m.encoding);
      break;
    case "json":
      add("Top level", m.topLevel ?? "none");
      if (m.topLevel === "array") add("Items", counted(m.length, m.lengthEstimated, "item"));
      if (m.topLevel === "object") add("Keys", m.keys);
      add("Column types", columnTable(m));
      add("Valid JSON", yesNo(m.valid));
      break;
    case "jsonl":
      add("Records", counted(m.records, m.recordsEstimated, "record"));
      add("Lines not JSON", m.invalidLines);
      add("Column types", columnTable(m));
      add("Valid JSON Lines", yesNo(m.valid));
      add("Encoding", m.encoding);
      break;
    case "parquet":
      add("Rows", plural(m.rows ?? 0, "row"));
      add("Row groups", m.rowGroups);
      add("Columns", m.columnCount);
      add("Column types", columnTable(m));
      add("Compression", m.compression?.join(", ") || null);
      add("Written by", m.createdBy);
      add("Metadata keys", m.metadataKeys);
      break;
    case "text":
      add("Lines", counted(m.lines, m.linesEstimated, "line"));
      add("Encoding", m.encoding);
      break;
    case "zip": case "docx": case "xlsx": case "pptx":
      add("Entries", m.entries);
      add("Uncompressed size", formatSize(m.uncompressedSize));
      add("Compression ratio", m.compressionRatio != null ? `${m.compressionRatio}×` : null);
      break;
    default:
      break;
  }
  return fields;
}

// Why the worker failed a file, for a person; the code and the worker's own
// message are shown next to it.
const FAILURES = {
  unsupported_type: "We can't read this kind of file, so we did not keep it.",
  type_mismatch: "The file claims to be one type but holds content that could run in a viewer, so it was blocked.",
  corrupt: "The file is damaged or incomplete, so it could not be read.",
  too_large: "The file is too big or too complex to examine within our limits.",
  archive_bomb: "The archive would expand to far more than it holds, so it was not opened.",
  image_bomb: "The image has too many pixels to examine safely.",
  object_missing: "The file was gone before it could be examined; upload it again.",
  processing_crashed: "Examining this file crashed our reader; it has been set aside for us to look at.",
};

export function failureText(error) {
  if (!error) return "";
  return FAILURES[error.code] || error.message || "The file could not be processed.";
}

// The malware scan beside the processing state (docs/security.md). "off": the
// stack does not scan, which must never read as "Clean".
const SCANS = {
  off: { chip: "Not scanned", released: true },
  pending: { chip: "Scanning…", released: false },
  clean: { chip: "Clean", released: true },
  infected: { chip: "Blocked: malware found", released: false,
    why: "Our malware scan found a threat in this file, so it cannot be downloaded. Delete it; until then it is kept for investigation and counts against your quota." },
  unscannable: { chip: "Blocked: could not be scanned", released: false,
    why: "The malware scanner cannot read this file (it is password-protected, or too large to scan), so it is not released. Upload it without a password, or in smaller parts." },
  failed: { chip: "Blocked: scan failed", released: false,
    why: "The malware scan of this file failed, so it is not released. Ask support to scan it again, or delete it and upload it again." },
};

export function scanLabel(scan) {
  const known = SCANS[scan?.status] || SCANS.pending;
  const threats = scan?.status === "infected" && scan.threats?.length ? ` (${scan.threats.join(", ")})` : "";
  return known.chip + threats;
}

export function scanReleased(scan) {
  return Boolean(SCANS[scan?.status]?.released);
}

export function scanWhy(scan) {
  return SCANS[scan?.status]?.why || "";
}

// The SHA-256 as stored: a plain digest, or S3's composite "<digest>-<parts>".
export function describeChecksum(sha256) {
  if (!sha256) return null;
  const composite = /^(.*)-(\d+)$/.exec(sha256);
  return composite ? `${composite[1]} (composite of ${composite[2]} parts)` : sha256;
}
