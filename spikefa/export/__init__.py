"""Export trained spiking networks to hardware: profiles, quantiser, checker, integer simulator, writers.

    from spikefa.export import load_profile, check, quantize, run_int, export
    profile = load_profile("loihi2")
    problems = check(net, profile)            # every violation, [] when it fits
    qnet = quantize(net, profile, bits=8)     # weights, bias, threshold and state scaled together
    record = run_int(qnet, spikes)            # the bit-exact reference, spikes [T, B, ...]
    export(net, profile, "out/")              # NIR / ONNX / C as the profile lists, verified
    export(net, profile, "out4/", state_bits=4)  # a 4-bit membrane on the weights' grid (MINT)
    net = from_nir("model.nir", dt=1e-3, reset="zero")  # a graph from another tool, as a SpikingNet
    layers, problems = read_layers(net)       # the exporters' reading: one `Layer` per LIF layer

Optional packages (nir, snntorch, onnx, onnxruntime, matplotlib) are imported only by the
writers and the sweep plot that need them.
"""

from spikefa.export.check import ExportRefused, check, require_fit
from spikefa.export.network import DenseLayer, Layer, dense_layers, from_run_dir, read_layers
from spikefa.export.nir_import import from_nir
from spikefa.export.pipeline import export, verification_spikes
from spikefa.export.profile import Profile, list_profiles, load_profile, parse_profile
from spikefa.export.qat import master_weight, prepare_qat, remove_qat
from spikefa.export.quantize import QuantizedNet, quantize, report_table
from spikefa.export.simulate import Record, dequantize, float_layers, run_float, run_int
from spikefa.export.sweep import accuracy, sweep
from spikefa.export.writers import EXPORTERS, Verification

__all__ = [
    "EXPORTERS", "DenseLayer", "ExportRefused", "Layer", "Profile", "QuantizedNet", "Record", "Verification",
    "accuracy", "check", "dense_layers", "dequantize", "export", "float_layers", "from_nir", "from_run_dir",
    "list_profiles", "load_profile", "master_weight", "parse_profile", "prepare_qat",
    "quantize", "read_layers", "remove_qat", "report_table", "require_fit", "run_float", "run_int", "sweep",
    "verification_spikes",
]
