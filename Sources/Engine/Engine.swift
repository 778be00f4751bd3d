/// The engine: volumes and geometry, NIfTI and safetensors I/O, the network, attributions,
/// aggregation and evaluation. It has no UI and no terminal code.
public enum EngineInfo {
    public static let version = "0.1.0"
}
