// A small STL / GLB viewer: binary and ASCII STL, binary glTF (GLB: triangle meshes, node
// transforms ignored), WebGL with flat shading, drag to turn, auto-rotation.
// Self-written so the add-on needs no CDN and no bundler; falls back to a 2D canvas (painter's
// algorithm) where WebGL is unavailable.
"use strict";

(function () {
  function parseStl(buffer) {
    const bytes = new Uint8Array(buffer);
    const view = new DataView(buffer);
    if (bytes.length >= 84) {
      const count = view.getUint32(80, true);
      if (84 + count * 50 === bytes.length) {
        const out = new Float32Array(count * 9);
        for (let i = 0; i < count; i++) {
          const base = 84 + i * 50 + 12; // skip the stored normal: it is often zero
          for (let k = 0; k < 9; k++) out[i * 9 + k] = view.getFloat32(base + k * 4, true);
        }
        return out;
      }
    }
    const text = new TextDecoder().decode(bytes);
    if (!/^\s*solid/.test(text)) throw new Error("not an STL file");
    const numbers = [];
    const re = /vertex\s+(\S+)\s+(\S+)\s+(\S+)/g;
    for (let m; (m = re.exec(text));) numbers.push(+m[1], +m[2], +m[3]);
    if (!numbers.length || numbers.length % 9 || numbers.some(Number.isNaN)) throw new Error("no triangles in this STL");
    return new Float32Array(numbers);
  }

  // GLB (binary glTF 2.0): a JSON chunk describing meshes, a BIN chunk with their data.
  const GLB_MAGIC = 0x46546c67, CHUNK_JSON = 0x4e4f534a, CHUNK_BIN = 0x004e4942;
  const READERS = {
    5120: (v, at) => v.getInt8(at), 5121: (v, at) => v.getUint8(at),
    5122: (v, at) => v.getInt16(at, true), 5123: (v, at) => v.getUint16(at, true),
    5125: (v, at) => v.getUint32(at, true), 5126: (v, at) => v.getFloat32(at, true),
  };
  const SIZES = { 5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4 };
  const WIDTH = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };

  function isGlb(buffer) {
    return buffer.byteLength >= 12 && new DataView(buffer).getUint32(0, true) === GLB_MAGIC;
  }

  function parseGlb(buffer) {
    const view = new DataView(buffer);
    if (!isGlb(buffer)) throw new Error("not a GLB file");
    let json = null, bin = null;
    for (let offset = 12; offset + 8 <= buffer.byteLength;) {
      const length = view.getUint32(offset, true), type = view.getUint32(offset + 4, true);
      if (type === CHUNK_JSON) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, offset + 8, length)));
      else if (type === CHUNK_BIN) bin = new DataView(buffer, offset + 8, length);
      offset += 8 + length;
    }
    if (!json || !bin) throw new Error("GLB without mesh data");
    const read = (index) => {
      const acc = json.accessors[index], bv = json.bufferViews[acc.bufferView];
      const width = WIDTH[acc.type], size = SIZES[acc.componentType], get = READERS[acc.componentType];
      if (!get || !width || (bv.buffer || 0) !== 0) throw new Error("unsupported GLB accessor");
      const stride = bv.byteStride || width * size, base = (bv.byteOffset || 0) + (acc.byteOffset || 0);
      const out = new Float64Array(acc.count * width);
      for (let i = 0; i < acc.count; i++) for (let k = 0; k < width; k++) out[i * width + k] = get(bin, base + i * stride + k * size);
      return out;
    };
    const numbers = [];
    for (const mesh of json.meshes || []) {
      for (const prim of mesh.primitives || []) {
        if ((prim.mode ?? 4) !== 4 || prim.attributes?.POSITION === undefined) continue; // triangles only
        const pos = read(prim.attributes.POSITION);
        const idx = prim.indices !== undefined ? read(prim.indices) : Array.from({ length: pos.length / 3 }, (_, i) => i);
        for (const i of idx) numbers.push(pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2]);
      }
    }
    if (!numbers.length || numbers.length % 9) throw new Error("no triangles in this GLB");
    return new Float32Array(numbers);
  }

  function parseModel(buffer) {
    return isGlb(buffer) ? parseGlb(buffer) : parseStl(buffer);
  }

  function normals(tris) {
    const n = new Float32Array(tris.length);
    for (let i = 0; i < tris.length; i += 9) {
      const ax = tris[i + 3] - tris[i], ay = tris[i + 4] - tris[i + 1], az = tris[i + 5] - tris[i + 2];
      const bx = tris[i + 6] - tris[i], by = tris[i + 7] - tris[i + 1], bz = tris[i + 8] - tris[i + 2];
      let nx = ay * bz - az * by, ny = az * bx - ax * bz, nz = ax * by - ay * bx;
      const len = Math.hypot(nx, ny, nz) || 1;
      nx /= len; ny /= len; nz /= len;
      for (let k = 0; k < 3; k++) { n[i + k * 3] = nx; n[i + k * 3 + 1] = ny; n[i + k * 3 + 2] = nz; }
    }
    return n;
  }

  // Centre on the origin and scale into a unit sphere.
  function normalise(tris) {
    const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < tris.length; i++) { const a = i % 3; min[a] = Math.min(min[a], tris[i]); max[a] = Math.max(max[a], tris[i]); }
    const c = [0, 1, 2].map((a) => (min[a] + max[a]) / 2);
    const r = Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) / 2 || 1;
    const out = new Float32Array(tris.length);
    for (let i = 0; i < tris.length; i++) out[i] = (tris[i] - c[i % 3]) / r;
    return out;
  }

  function rotation(yaw, pitch) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    // Column-major 3x3 as a 4x4: yaw about Z (printers' up axis), then pitch about X.
    return new Float32Array([cy, sy * cp, sy * sp, 0, -sy, cy * cp, cy * sp, 0, 0, -sp, cp, 0, 0, 0, 0, 1]);
  }

  const VS = `attribute vec3 p; attribute vec3 n; uniform mat4 r; uniform float aspect; varying float light;
    void main() { vec4 q = r * vec4(p, 1.0); vec4 m = r * vec4(n, 0.0);
      light = 0.25 + 0.75 * abs(dot(normalize(m.xyz), normalize(vec3(0.3, 0.4, 1.0))));
      gl_Position = vec4(q.x * 0.8 / aspect, q.y * 0.8, -q.z * 0.5, 1.0); }`;
  const FS = `precision mediump float; varying float light; void main() { gl_FragColor = vec4(vec3(0.1, 0.65, 0.95) * light, 1.0); }`;

  class JarvisStlViewer {
    constructor(canvas) {
      this.canvas = canvas;
      this.triangles = 0;
      this.yaw = 0.6;
      this.pitch = -1.0;
      this.frames = 0;
      const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: true });
      this.renderer = gl ? "webgl" : "canvas2d";
      if (gl) this.initGl(gl); else this.ctx = canvas.getContext("2d");
      let drag = null;
      canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; this.auto = false; });
      window.addEventListener("pointerup", () => { drag = null; });
      canvas.addEventListener("pointermove", (e) => {
        if (!drag) return;
        this.yaw += (e.clientX - drag[0]) / 100; this.pitch += (e.clientY - drag[1]) / 100;
        drag = [e.clientX, e.clientY]; this.draw();
      });
      this.auto = true;
      const tick = () => { if (this.auto && this.triangles) { this.yaw += 0.01; this.draw(); } requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    }

    initGl(gl) {
      const shader = (type, src) => {
        const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
        if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
        return s;
      };
      const prog = gl.createProgram();
      gl.attachShader(prog, shader(gl.VERTEX_SHADER, VS));
      gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FS));
      gl.linkProgram(prog);
      gl.useProgram(prog);
      this.gl = gl;
      this.prog = prog;
      this.pos = gl.createBuffer();
      this.nrm = gl.createBuffer();
      gl.enable(gl.DEPTH_TEST);
    }

    load(buffer) {
      const tris = normalise(parseModel(buffer));
      this.tris = tris;
      this.norms = normals(tris);
      this.triangles = tris.length / 9;
      if (this.gl) {
        const gl = this.gl;
        for (const [buf, data, name] of [[this.pos, tris, "p"], [this.nrm, this.norms, "n"]]) {
          gl.bindBuffer(gl.ARRAY_BUFFER, buf);
          gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
          const loc = gl.getAttribLocation(this.prog, name);
          gl.enableVertexAttribArray(loc);
          gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
        }
      }
      this.draw();
      return this.triangles;
    }

    draw() {
      const { canvas } = this;
      const aspect = canvas.width / canvas.height;
      const r = rotation(this.yaw, this.pitch);
      if (this.gl) {
        const gl = this.gl;
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.clearColor(0.13, 0.13, 0.13, 1);
        gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
        gl.uniformMatrix4fv(gl.getUniformLocation(this.prog, "r"), false, r);
        gl.uniform1f(gl.getUniformLocation(this.prog, "aspect"), aspect);
        gl.drawArrays(gl.TRIANGLES, 0, this.triangles * 3);
      } else {
        this.draw2d(r, aspect);
      }
      this.frames += 1;
    }

    draw2d(r, aspect) {
      const { ctx, canvas, tris, norms } = this;
      ctx.fillStyle = "#222"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!tris) return;
      const tx = (x, y, z) => [r[0] * x + r[4] * y + r[8] * z, r[1] * x + r[5] * y + r[9] * z, r[2] * x + r[6] * y + r[10] * z];
      const faces = [];
      for (let i = 0; i < tris.length; i += 9) {
        const pts = [0, 3, 6].map((k) => tx(tris[i + k], tris[i + k + 1], tris[i + k + 2]));
        const n = tx(norms[i], norms[i + 1], norms[i + 2]);
        faces.push([pts, (pts[0][2] + pts[1][2] + pts[2][2]) / 3, 0.25 + 0.75 * Math.abs(n[0] * 0.3 + n[1] * 0.4 + n[2]) / 1.118]);
      }
      faces.sort((a, b) => a[1] - b[1]);
      const sx = (x) => (x * 0.8 / aspect + 1) * canvas.width / 2, sy = (y) => (1 - y * 0.8) * canvas.height / 2;
      for (const [pts, , light] of faces) {
        ctx.fillStyle = `rgb(${26 * light},${166 * light},${242 * light})`;
        ctx.beginPath(); ctx.moveTo(sx(pts[0][0]), sy(pts[0][1]));
        ctx.lineTo(sx(pts[1][0]), sy(pts[1][1])); ctx.lineTo(sx(pts[2][0]), sy(pts[2][1])); ctx.fill();
      }
    }

    // Share of canvas pixels that are not background (lets a test see that something was drawn).
    coverage() {
      const { canvas } = this;
      const probe = document.createElement("canvas");
      probe.width = canvas.width; probe.height = canvas.height;
      const ctx = probe.getContext("2d");
      ctx.drawImage(canvas, 0, 0);
      const px = ctx.getImageData(0, 0, probe.width, probe.height).data;
      let lit = 0;
      for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i] - 33) + Math.abs(px[i + 1] - 33) + Math.abs(px[i + 2] - 33) > 30) lit++;
      return lit / (px.length / 4);
    }
  }

  window.JarvisStlViewer = JarvisStlViewer;
  window.parseStl = parseStl;
  window.parseGlb = parseGlb;
})();
