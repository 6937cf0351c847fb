"""What crosses between the grader and its worker: plain data, never pickles from the worker.

The worker `encode`s the results of student code as JSON-ready lists, tagged by kind:

    ["none"]  ["bool", b]  ["int", "12"]  ["float", 1.5 | "nan" | "inf" | "-inf"]
    ["str", s]  ["bytes", base64]  ["list" | "tuple" | "set", [items]]  ["dict", [[k, v]], kind]
    ["ndarray", dtype, shape, base64]  ["npscalar", dtype, base64]
    ["tensor", dtype, shape, base64, device, requires_grad, grad]
    ["handle", id, type name, repr]       anything else, kept in the worker

The grader `decode`s them with its own code: numbers, strings and containers are
rebuilt, arrays and tensors come from their dtype (from a fixed list, no objects),
shape and raw bytes. Every field is type-checked and nesting is bounded, so a forged
or broken message gives `Malformed`, never a crash and never an object of the
student's making. Arguments travel the other way as pickles: the grader trusts its
own objects, and the worker may unpickle them.
"""

from __future__ import annotations

import base64
import math
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 24  # containers inside containers
MAX_ITEMS = 1_000_000  # elements of one container
MAX_LINE = 256 * 2**20  # bytes of one message
MAX_CONTAINERS = 4 * MAX_ITEMS  # "[" and "{" in one message: json.loads makes ~80 bytes of each
REPR_LIMIT = 300  # characters of a handle's repr

_NUMPY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}  # fmt: skip
_TORCH_DTYPES = {
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
    "float64", "complex64", "complex128",
}  # fmt: skip


_DICTS = {dict, OrderedDict, Counter, defaultdict}  # defaultdict arrives as a plain dict
_DICT_KINDS = {"dict": dict, "OrderedDict": OrderedDict, "Counter": Counter, "defaultdict": dict}


class Malformed(ValueError):
    """A message from the worker that is not what the protocol allows."""


# --- The worker's side --------------------------------------------------------------


def encode(value: Any, keep: Callable[[Any], int], depth: int = 0) -> list[Any]:
    """`value` as tagged plain data; objects that are not data become handles via `keep`."""
    kind = type(value)
    if value is None:
        return ["none"]
    if kind is bool:
        return ["bool", value]
    if kind is int:
        return ["int", str(value)]
    if kind is float:
        return ["float", value if math.isfinite(value) else repr(value)]
    if kind is str:
        return ["str", value]
    if kind is bytes:
        return ["bytes", _b64(value)]
    if depth >= MAX_DEPTH:
        return _handle(value, keep)
    if kind in (list, tuple, set, frozenset) and len(value) <= MAX_ITEMS:
        tag = "set" if kind in (set, frozenset) else kind.__name__
        return [tag, [encode(item, keep, depth + 1) for item in value]]
    if kind in _DICTS and len(value) <= MAX_ITEMS:
        pairs = [[encode(k, keep, depth + 1), encode(v, keep, depth + 1)] for k, v in value.items()]
        return ["dict", pairs, kind.__name__]
    array = _encode_array(value)
    if array is not None:
        return array
    tensor = _encode_tensor(value, keep, depth)
    if tensor is not None:
        return tensor
    return _handle(value, keep)


def _handle(value: Any, keep: Callable[[Any], int]) -> list[Any]:
    try:
        text = repr(value)[:REPR_LIMIT]
    except BaseException:
        text = "<no repr>"
    name = getattr(type(value), "__name__", "object")
    return ["handle", keep(value), name if isinstance(name, str) else "object", str(text)]


def _encode_array(value: Any) -> list[Any] | None:
    import sys

    numpy = sys.modules.get("numpy")
    if numpy is None:
        return None
    kind = type(value)
    if kind is numpy.ndarray and value.dtype.name in _NUMPY_DTYPES:
        data = numpy.ascontiguousarray(value)
        return ["ndarray", value.dtype.name, list(value.shape), _b64(data.tobytes())]
    generic = isinstance(value, numpy.generic) and kind.__module__ == "numpy"
    if generic and value.dtype.name in _NUMPY_DTYPES:
        return ["npscalar", value.dtype.name, _b64(numpy.asarray(value).tobytes())]
    return None


def _encode_tensor(value: Any, keep: Callable[[Any], int], depth: int) -> list[Any] | None:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or type(value) not in (torch.Tensor, torch.nn.Parameter):
        return None
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in _TORCH_DTYPES or value.layout != torch.strided or value.is_quantized:
        return None
    if value.device.type == "meta":
        return None
    flat = value.detach().cpu().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    grad = value.grad if value.is_leaf else None
    return [
        "tensor",
        dtype,
        list(value.shape),
        _b64(raw),
        str(value.device),
        bool(value.requires_grad),
        None if grad is None else encode(grad, keep, depth + 1),
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- The grader's side --------------------------------------------------------------


def decode(data: Any, handle: Callable[[int, str, str], Any], depth: int = 0) -> Any:
    """Rebuild a value from `encode`'s output; `handle(id, type_name, repr)` makes proxies."""
    if depth > MAX_DEPTH + 2:
        raise Malformed("nested too deeply")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise Malformed("a value is not a tagged list")
    tag, fields = data[0], data[1:]
    rebuild = _DECODERS.get(tag)
    if rebuild is None:
        raise Malformed(f"unknown kind {tag[:20]!r}")
    return rebuild(fields, handle, depth)


def _want(fields: list[Any], *types: type | tuple[type, ...]) -> list[Any]:
    if len(fields) != len(types) or not all(
        isinstance(f, t) and not (t is int and isinstance(f, bool))
        for f, t in zip(fields, types, strict=True)
    ):
        raise Malformed("fields of the wrong number or type")
    return fields


def _float(fields: list[Any], *_: Any) -> float:
    (value,) = _want(fields, (int, float, str))
    if isinstance(value, str):
        if value not in ("nan", "inf", "-inf"):
            raise Malformed("a float that is not a number")
        return float(value)
    return float(value)


def _int(fields: list[Any], *_: Any) -> int:
    (text,) = _want(fields, str)
    if not (text.lstrip("-").isdigit() and len(text) < 5000):
        raise Malformed("an int that is not digits")
    return int(text)


def _bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise Malformed("bytes that are not base64") from None


def _items(fields: list[Any], handle: Any, depth: int) -> list[Any]:
    (items,) = _want(fields, list)
    if len(items) > MAX_ITEMS:
        raise Malformed("too many items")
    return [decode(item, handle, depth + 1) for item in items]


def _set(fields: list[Any], handle: Any, depth: int) -> set[Any]:
    try:
        return set(_items(fields, handle, depth))
    except TypeError:
        raise Malformed("a set of unhashable items") from None


def _dict(fields: list[Any], handle: Any, depth: int) -> dict[Any, Any]:
    pairs, kind = _want(fields, list, str)
    if len(pairs) > MAX_ITEMS or kind not in _DICT_KINDS:
        raise Malformed("too many items, or a mapping of an unknown kind")
    result = _DICT_KINDS[kind]()
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise Malformed("a dict entry that is not a pair")
        key = decode(pair[0], handle, depth + 1)
        try:
            result[key] = decode(pair[1], handle, depth + 1)
        except TypeError:
            raise Malformed("a dict key that cannot be hashed") from None
    return result


def _shape(shape: list[Any]) -> tuple[int, ...]:
    if len(shape) > 32 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                  for n in shape):  # fmt: skip
        raise Malformed("a shape that is not a list of sizes")
    return tuple(shape)


def _ndarray(fields: list[Any], *_: Any) -> Any:
    import numpy

    dtype, shape, raw = _want(fields, str, list, str)
    if dtype not in _NUMPY_DTYPES:
        raise Malformed(f"numpy dtype {dtype[:20]!r} is not allowed")
    shape = _shape(shape)
    data = _bytes(raw)
    if len(data) != math.prod(shape) * numpy.dtype(dtype).itemsize:
        raise Malformed("an array whose bytes do not fit its shape")
    return numpy.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _npscalar(fields: list[Any], *_: Any) -> Any:
    import numpy

    dtype, raw = _want(fields, str, str)
    if dtype not in _NUMPY_DTYPES:
        raise Malformed(f"numpy dtype {dtype[:20]!r} is not allowed")
    data = _bytes(raw)
    if len(data) != numpy.dtype(dtype).itemsize:
        raise Malformed("a scalar of the wrong size")
    return numpy.frombuffer(data, dtype=dtype)[0]


def _tensor(fields: list[Any], handle: Any, depth: int) -> Any:
    import torch

    if len(fields) != 6:
        raise Malformed("a tensor with the wrong fields")
    dtype, shape, raw, device, requires_grad = _want(fields[:5], str, list, str, str, bool)
    if dtype not in _TORCH_DTYPES:
        raise Malformed(f"torch dtype {dtype[:20]!r} is not allowed")
    shape, data = _shape(shape), _bytes(raw)
    kind = getattr(torch, dtype)
    if len(data) != math.prod(shape) * torch.empty((), dtype=kind).element_size():
        raise Malformed("a tensor whose bytes do not fit its shape")
    flat = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0)
    tensor = flat.view(kind).reshape(shape) if data else torch.empty(shape, dtype=kind)
    tensor = tensor.to(_device(device))
    if requires_grad and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    if fields[5] is not None:
        grad = decode(fields[5], handle, depth + 1)
        if not isinstance(grad, torch.Tensor) or grad.shape != tensor.shape:
            raise Malformed("a gradient that does not fit its tensor")
        tensor.grad = grad.to(tensor.dtype)
    return tensor


def _device(name: str) -> str:
    """The worker's device when this process has it too, else the CPU."""
    import torch

    if name.startswith("cuda") and torch.cuda.is_available():
        return name
    return "cpu"


def _handle_of(fields: list[Any], handle: Any, _: int) -> Any:
    number, name, text = _want(fields, int, str, str)
    return handle(number, name[:100], text[:REPR_LIMIT])


_DECODERS: dict[str, Callable[[list[Any], Any, int], Any]] = {
    "none": lambda f, *_: (_want(f), None)[1],
    "bool": lambda f, *_: _want(f, bool)[0],
    "int": _int,
    "float": _float,
    "str": lambda f, *_: _want(f, str)[0],
    "bytes": lambda f, *_: _bytes(_want(f, str)[0]),
    "list": _items,
    "tuple": lambda f, h, d: tuple(_items(f, h, d)),
    "set": _set,
    "dict": _dict,
    "ndarray": _ndarray,
    "npscalar": _npscalar,
    "tensor": _tensor,
    "handle": _handle_of,
}
