"""Writes tiny.onnx: logits = input @ W + b with input [batch, 4] and logits [batch, 3].

The weights are small integers so the expected outputs are exact in float32; the runtime's unit
tests compute them independently. Run with /usr/bin/python3 (Debian's python3-onnx).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W = np.array([[1, 0, -1], [2, 1, 0], [0, 3, 1], [-1, 0, 2]], dtype=np.float32)
B = np.array([0.5, -0.5, 0.25], dtype=np.float32)

graph = helper.make_graph(
    [
        helper.make_node('MatMul', ['input', 'W'], ['xw']),
        helper.make_node('Add', ['xw', 'B'], ['logits']),
    ],
    'tiny',
    [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 4])],
    [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', 3])],
    initializer=[numpy_helper.from_array(W, 'W'), numpy_helper.from_array(B, 'B')],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='cohort-test')
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, __file__.replace('make-tiny.py', 'tiny.onnx'))
