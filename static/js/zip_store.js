// A minimal zip writer: STORE only (no compression; PNGs are compressed already), no ZIP64, so
// under 4 GiB and 65,535 entries. Enough for the capture page's upload, without a dependency.
// Layout (PKWARE APPNOTE 4.3): a local header and the bytes of each file, then the central
// directory (one header per file) and the end-of-central-directory record.

let table = null;

/** CRC-32 (IEEE 802.3, the one zip uses) of a Uint8Array, as an unsigned 32-bit number. */
export function crc32(bytes) {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date of a Date (local time, 2-second steps, 1980 at the earliest). */
function dosDateTime(date) {
  const year = Math.max(date.getFullYear(), 1980);
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/** A zip (Uint8Array) of `files`, [{name: "cats/1.png", data: Uint8Array}], stored as they are. */
export function zipStore(files, when = new Date()) {
  if (files.length > 0xffff) throw new RangeError(`A zip without ZIP64 holds at most 65,535 files, not ${files.length}.`);
  const { time, date } = dosDateTime(when);
  const encoder = new TextEncoder();
  const entries = files.map(({ name, data }) => ({ name: encoder.encode(name), data, crc: crc32(data) }));
  const localSize = entries.reduce((sum, e) => sum + 30 + e.name.length + e.data.length, 0);
  const centralSize = entries.reduce((sum, e) => sum + 46 + e.name.length, 0);
  if (localSize + centralSize + 22 > 0xffffffff) throw new RangeError("A zip without ZIP64 must stay under 4 GiB.");
  const out = new Uint8Array(localSize + centralSize + 22);
  const view = new DataView(out.buffer);
  let at = 0;
  const u16 = (value) => { view.setUint16(at, value, true); at += 2; };
  const u32 = (value) => { view.setUint32(at, value, true); at += 4; };
  const bytes = (value) => { out.set(value, at); at += value.length; };
  // The fields local and central headers share, from "version needed" to "extra field length".
  const common = (e) => { u16(20); u16(0x0800); u16(0); u16(time); u16(date); u32(e.crc); u32(e.data.length);
                          u32(e.data.length); u16(e.name.length); u16(0); };  // 0x0800: names are UTF-8

  for (const e of entries) {
    e.offset = at;
    u32(0x04034b50);
    common(e);
    bytes(e.name);
    bytes(e.data);
  }
  const centralStart = at;
  for (const e of entries) {
    u32(0x02014b50);
    u16(20);  // made by: version 2.0, MS-DOS attributes (external attributes 0: a plain file)
    common(e);
    u16(0); u16(0); u16(0); u32(0);  // comment length, disk number, internal and external attributes
    u32(e.offset);
    bytes(e.name);
  }
  const centralEnd = at;
  u32(0x06054b50);
  u16(0); u16(0); u16(entries.length); u16(entries.length);  // this disk, the directory's disk, entries
  u32(centralEnd - centralStart); u32(centralStart); u16(0);  // directory size and offset, comment length
  return out;
}
