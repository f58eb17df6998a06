"""What an ONNX classifier from a checkpoint may contain, read from its bytes before onnxruntime opens it.

A stranger's graph could loop for ever (``Loop``), allocate gigabytes (``ConstantOfShape``) or
read files beside it (external data), and every check onnxruntime does would pass. So a
classifier is accepted only if every operator is one our exports use, in ONNX's own domain,
and every weight is stored inside the file. The file is read as protobuf wire format here,
because importing the ``onnx`` package would add most of a second to the app's start.
"""

from __future__ import annotations

from collections.abc import Iterator

# Every operator of our exports (fp32 and int8, fernet_* and the timm backbones we train),
# plus shape-preserving relatives; no control flow, no shape-driven allocation.
ALLOWED_OPS = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Conv", "Gemm", "MatMul", "BatchNormalization",
        "ReduceMean", "GlobalAveragePool", "AveragePool", "MaxPool", "Flatten", "Reshape",
        "Squeeze", "Unsqueeze", "Transpose", "Concat", "Identity", "Relu", "Clip", "Sigmoid",
        "HardSigmoid", "HardSwish", "Tanh", "Softmax", "QuantizeLinear", "DequantizeLinear",
    }
)  # fmt: skip
# Field numbers in onnx.proto: ModelProto.graph, GraphProto.node and .initializer,
# NodeProto.op_type and .domain, TensorProto.data_location (1 = EXTERNAL).
MODEL_GRAPH, GRAPH_NODE, GRAPH_INITIALIZER = 7, 1, 5
NODE_OP_TYPE, NODE_DOMAIN, TENSOR_DATA_LOCATION = 4, 7, 14
EXTERNAL = 1


class UnsafeGraphError(ValueError):
    """The file is not an ONNX graph we serve; the message says why in one sentence."""


def check_graph(data: bytes) -> None:
    """UnsafeGraphError unless ``data`` is an ONNX model whose operators are all allowed and
    whose weights are all inside it."""
    try:
        graphs = [value for number, value in _fields(data) if number == MODEL_GRAPH]
        if len(graphs) != 1:
            raise UnsafeGraphError("no ONNX graph in it")
        refused = set()
        for number, value in _fields(graphs[0]):
            if number == GRAPH_NODE:
                node = dict(_fields(value))
                op, domain = node.get(NODE_OP_TYPE, b"").decode(), node.get(NODE_DOMAIN, b"").decode()
                if op not in ALLOWED_OPS or domain not in ("", "ai.onnx"):
                    refused.add(f"{domain}.{op}" if domain else op)
            elif number == GRAPH_INITIALIZER and dict(_fields(value)).get(TENSOR_DATA_LOCATION) == EXTERNAL:
                raise UnsafeGraphError("weights in files outside it: external data")
    except (IndexError, UnicodeDecodeError) as exc:
        raise UnsafeGraphError("not an ONNX file") from exc
    if refused:
        shown = ", ".join(sorted(name[:40] for name in refused)[:5])
        raise UnsafeGraphError(f"operators a classifier export never has: {shown}")


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """(field number, value) of each field of a protobuf message: bytes for length-delimited
    fields, an int for varints; fixed-width fields are skipped."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > end:
                raise IndexError("a field runs past the end")
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise IndexError(f"wire type {wire_type}")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise IndexError("a varint longer than 64 bits")
