/**
 * The names WGSL predeclares: built-in functions, types and type generators, their
 * predeclared aliases, and enumerants (W3C WGSL, "Predeclared Enumerants", "Built-in
 * Functions", "Types"). WGSL lets a module-scope declaration shadow any of them, and a
 * module-scope name is visible in the whole module, before and after its declaration:
 * a kernel declaring `fn select(...)` or `fn min(...)` would replace the built-in inside
 * ringshard's driver too (checked on Tint: a function declared after the entry point
 * changed what the entry point's `select` and `min` returned). So the sandbox refuses
 * these names at module scope; inside a function they shadow only the kernel's own code.
 *
 * Best effort from the spec (extensions included where known). A name missing here is a
 * hole only if ringshard's own WGSL uses it: test/kernels/wgsl-sandbox.test.ts checks that
 * every predeclared name the prelude, the generated code and the driver use is listed.
 */

const TYPES = [
  'bool', 'f16', 'f32', 'i32', 'u32', 'vec2', 'vec3', 'vec4', 'array', 'atomic', 'ptr',
  'sampler', 'sampler_comparison', 'texture_1d', 'texture_2d', 'texture_2d_array', 'texture_3d', 'texture_cube',
  'texture_cube_array', 'texture_multisampled_2d', 'texture_depth_multisampled_2d', 'texture_external',
  'texture_storage_1d', 'texture_storage_2d', 'texture_storage_2d_array', 'texture_storage_3d', 'texture_depth_2d',
  'texture_depth_2d_array', 'texture_depth_cube', 'texture_depth_cube_array', 'binding_array', 'subgroup_matrix_left',
  'subgroup_matrix_right', 'subgroup_matrix_result', 'input_attachment',
];

const MATRICES = ['2', '3', '4'].flatMap((c) => ['2', '3', '4'].map((r) => `mat${c}x${r}`));
const ALIASES = [
  ...['2', '3', '4'].flatMap((n) => ['i', 'u', 'f', 'h'].map((s) => `vec${n}${s}`)),
  ...MATRICES.flatMap((m) => [`${m}f`, `${m}h`]),
];

const ENUMERANTS = [
  // address spaces and access modes
  'function', 'private', 'workgroup', 'uniform', 'storage', 'push_constant', 'pixel_local', 'immediate',
  'read', 'write', 'read_write',
  // texel formats
  'rgba8unorm', 'rgba8snorm', 'rgba8uint', 'rgba8sint', 'rgba16uint', 'rgba16sint', 'rgba16float', 'rgba16unorm',
  'rgba16snorm', 'r32uint', 'r32sint', 'r32float', 'rg32uint', 'rg32sint', 'rg32float', 'rgba32uint', 'rgba32sint',
  'rgba32float', 'bgra8unorm', 'r8unorm', 'r8snorm', 'r8uint', 'r8sint', 'rg8unorm', 'rg8snorm', 'rg8uint', 'rg8sint',
  'r16unorm', 'r16snorm', 'r16uint', 'r16sint', 'r16float', 'rg16unorm', 'rg16snorm', 'rg16uint', 'rg16sint',
  'rg16float', 'rgb10a2uint', 'rgb10a2unorm', 'rg11b10ufloat',
];

const FUNCTIONS = [
  // logical, array, bit reinterpretation
  'all', 'any', 'select', 'arrayLength', 'bitcast',
  // numeric
  'abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'atan2', 'ceil', 'clamp', 'cos', 'cosh',
  'countLeadingZeros', 'countOneBits', 'countTrailingZeros', 'cross', 'degrees', 'determinant', 'distance', 'dot',
  'dot4U8Packed', 'dot4I8Packed', 'exp', 'exp2', 'extractBits', 'faceForward', 'firstLeadingBit', 'firstTrailingBit',
  'floor', 'fma', 'fract', 'frexp', 'insertBits', 'inverseSqrt', 'ldexp', 'length', 'log', 'log2', 'max', 'min',
  'mix', 'modf', 'normalize', 'pow', 'quantizeToF16', 'radians', 'reflect', 'refract', 'reverseBits', 'round',
  'saturate', 'sign', 'sin', 'sinh', 'smoothstep', 'sqrt', 'step', 'tan', 'tanh', 'transpose', 'trunc',
  // derivatives
  'dpdx', 'dpdxCoarse', 'dpdxFine', 'dpdy', 'dpdyCoarse', 'dpdyFine', 'fwidth', 'fwidthCoarse', 'fwidthFine',
  // textures
  'textureDimensions', 'textureGather', 'textureGatherCompare', 'textureLoad', 'textureNumLayers', 'textureNumLevels',
  'textureNumSamples', 'textureSample', 'textureSampleBias', 'textureSampleCompare', 'textureSampleCompareLevel',
  'textureSampleGrad', 'textureSampleLevel', 'textureSampleBaseClampToEdge', 'textureStore',
  // atomics
  'atomicLoad', 'atomicStore', 'atomicAdd', 'atomicSub', 'atomicMax', 'atomicMin', 'atomicAnd', 'atomicOr',
  'atomicXor', 'atomicExchange', 'atomicCompareExchangeWeak',
  // packing
  'pack4x8snorm', 'pack4x8unorm', 'pack4xI8', 'pack4xU8', 'pack4xI8Clamp', 'pack4xU8Clamp', 'pack2x16snorm',
  'pack2x16unorm', 'pack2x16float', 'unpack4x8snorm', 'unpack4x8unorm', 'unpack4xI8', 'unpack4xU8',
  'unpack2x16snorm', 'unpack2x16unorm', 'unpack2x16float',
  // synchronization
  'storageBarrier', 'textureBarrier', 'workgroupBarrier', 'workgroupUniformLoad',
  // subgroups and quads
  'subgroupAdd', 'subgroupAll', 'subgroupAnd', 'subgroupAny', 'subgroupBallot', 'subgroupBroadcast',
  'subgroupBroadcastFirst', 'subgroupElect', 'subgroupExclusiveAdd', 'subgroupExclusiveMul', 'subgroupInclusiveAdd',
  'subgroupInclusiveMul', 'subgroupMax', 'subgroupMin', 'subgroupMul', 'subgroupOr', 'subgroupShuffle',
  'subgroupShuffleDown', 'subgroupShuffleUp', 'subgroupShuffleXor', 'subgroupXor', 'quadBroadcast',
  'quadSwapDiagonal', 'quadSwapX', 'quadSwapY',
];

/** Every name WGSL predeclares (as far as this list knows). */
export const WGSL_PREDECLARED: ReadonlySet<string> = new Set([...TYPES, ...MATRICES, ...ALIASES, ...ENUMERANTS, ...FUNCTIONS]);
