// A minimal decoder for the viewer's raw frames: greyscale PNG, 8 or 16 bits, not interlaced.
// The browser's own image decoding and <canvas> only give 8-bit values, and window/level must
// run on the full 16-bit modality values (SPEC section 5), so the frame endpoint's
// `mode=raw16` PNG is decoded here: chunks parsed, IDAT inflated with the built-in
// DecompressionStream (zlib), and scanline filters undone. No dependency, ~2 ms/Mpx.

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// Returns {width, height, bitDepth, values: Uint16Array (row-major, width*height)}.
export async function decodeGreyPng(buffer) {
  const data = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (signature.some((b, i) => data[i] !== b)) throw new Error("not a PNG");
  let pos = 8;
  let header = null;
  const parts = [];
  while (pos + 8 <= data.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...data.subarray(pos + 4, pos + 8));
    const chunk = data.subarray(pos + 8, pos + 8 + length);
    if (type === "IHDR") {
      header = {
        width: view.getUint32(pos + 8),
        height: view.getUint32(pos + 12),
        bitDepth: chunk[8],
        colorType: chunk[9],
        interlace: chunk[12],
      };
    } else if (type === "IDAT") {
      parts.push(chunk);
    } else if (type === "IEND") {
      break;
    }
    pos += 12 + length;
  }
  if (!header) throw new Error("PNG without IHDR");
  const { width, height, bitDepth, colorType, interlace } = header;
  if (colorType !== 0 || interlace !== 0 || (bitDepth !== 8 && bitDepth !== 16)) {
    throw new Error(`unsupported PNG (colour type ${colorType}, ${bitDepth} bits)`);
  }
  const raw = await inflate(new Blob(parts));
  const bpp = bitDepth / 8;
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) throw new Error("truncated PNG");
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const value = raw[src + x];
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[prev + x] : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp] : 0;
      let result;
      switch (filter) {
        case 0: result = value; break;
        case 1: result = value + a; break;
        case 2: result = value + b; break;
        case 3: result = value + ((a + b) >> 1); break;
        case 4: result = value + paeth(a, b, c); break;
        default: throw new Error(`bad PNG filter ${filter}`);
      }
      out[row + x] = result & 0xff;
    }
  }
  const values = new Uint16Array(width * height);
  if (bitDepth === 16) {
    for (let i = 0; i < values.length; i++) values[i] = (out[2 * i] << 8) | out[2 * i + 1];
  } else {
    values.set(out);
  }
  return { width, height, bitDepth, values };
}
