import Engine
import Foundation
import TestSupport
import XCTest

/// Inputs that parse but are absurd, files that are not files, outputs that cannot be written:
/// each gets one clear line and the documented exit status (1 bad data, 64 usage), quickly, and
/// leaves no file behind.
final class RobustnessTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures")
    static let modelDirectory = fixtures.appendingPathComponent("network/batch").path

    // MARK: Helpers

    /// A 24×20×12 CT at 1.5 mm (the test model's spacing) unless `spacing` says otherwise.
    func writeScan(_ dir: String, _ name: String = "ct.nii.gz", spacing: [Double] = [1.5, 1.5, 1.5]) throws -> String {
        let grid = Grid(dims: [24, 20, 12], affine: .scaling(spacing))
        var rng = SeededGenerator(seed: 7)
        let voxels = (0..<grid.voxelCount).map { _ in Float(300 * rng.normal()) }
        let path = dir + "/" + name
        try NIfTI.write(Volume(grid: grid, voxels: voxels), to: path)
        return path
    }

    /// A copy of the test model with model.json edited by `edit`.
    func writeModel(_ dir: String, _ name: String = "model",
                    edit: (inout [String: Any]) -> Void) throws -> String {
        let target = dir + "/" + name
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.modelDirectory + "/model.safetensors",
                                         toPath: target + "/model.safetensors")
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.modelDirectory + "/model.json"))
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: target + "/model.json"))
        return target
    }

    /// Every path under `dir`, hidden files included.
    func listing(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    }

    /// Runs agg2exp and checks the exit status, that stderr is `message` (one line; usage errors
    /// add the subcommand's usage lines), that it took less than `seconds`, and that no file
    /// appeared in or vanished from `dir`.
    func assertFails(_ arguments: [String], status: Int32, message: String, in dir: String,
                     environment: [String: String] = [:], seconds: Double = 20,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let before = listing(dir)
        let start = Date()
        let r = try runAgg2Exp(arguments, environment: environment, timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        XCTAssertEqual(lines.first, message, file: file, line: line)
        if status == 64 {
            XCTAssertEqual(lines.count, 3, r.stderr, file: file, line: line)
            XCTAssertTrue(lines.dropFirst().first?.hasPrefix("Usage: agg2exp \(arguments[0]) ") ?? false, r.stderr,
                          file: file, line: line)
        } else {
            XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        }
        XCTAssertLessThan(elapsed, seconds, "took \(elapsed) s", file: file, line: line)
        XCTAssertEqual(listing(dir), before, "files left behind or removed", file: file, line: line)
    }

    // MARK: Crashes on values that parse but are absurd

    func testAbsurdModelSpacingIsRefusedBeforeResampling() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        for (name, spacing, text) in [("tiny", 1e-5, "1e-05"), ("huge", 1e308, "1e+308")] {
            let model = try writeModel(dir, name) { json in
                var pre = json["preprocessing"] as! [String: Any]
                pre["spacing"] = [spacing, 1.5, 1.5]
                json["preprocessing"] = pre
            }
            try assertFails(["segment", scan, "--model", model, "--out", dir + "/o.nii.gz"], status: 1,
                            message: "error: \(model)/model.json: preprocessing.spacing: voxel size \(text) × 1.5 × 1.5 mm "
                                + "is outside 0.001…10000.0 mm", in: dir)
        }
        // 0.01 mm is a valid spacing, but the grid it gives is refused before allocation (1.4 TB).
        let fine = try writeModel(dir, "fine") { json in
            var pre = json["preprocessing"] as! [String: Any]
            pre["spacing"] = [0.01, 0.01, 0.01]
            json["preprocessing"] = pre
        }
        try assertFails(["segment", scan, "--model", fine, "--out", dir + "/o.nii.gz"], status: 1,
                        message: "error: \(scan): resampling 24×20×12 voxels of 1.5 × 1.5 × 1.5 mm to 0.01 × 0.01 × 0.01 mm "
                            + "gives 3451×2851×1651 voxels, more than the supported 65536 per axis and 2^31 in total",
                        in: dir)
    }

    func testAbsurdScanVoxelSizesAreRefusedOnReading() throws {
        let dir = try makeTemporaryDirectory(self)
        let huge = dir + "/huge.nii"
        var raw = RawNIfTI()
        raw.pixdim = [1, 1e30, 1, 1, 0, 0, 0, 0]
        raw.setFloatData([Float](repeating: 0, count: 8))
        try raw.write(to: huge)
        // `report` without a model used to trap in the plane geometry.
        try assertFails(["report", huge, "--out", dir + "/r.txt"], status: 1,
                        message: "error: \(huge): unsupported geometry: voxel size 1e+30 × 1 × 1 mm is outside 0.001…10000.0 mm",
                        in: dir)
        let anisotropic = dir + "/aniso.nii"
        raw.pixdim = [1, 1e-6, 1e3, 1, 0, 0, 0, 0]
        try raw.write(to: anisotropic)
        try assertFails(["info", anisotropic], status: 1,
                        message: "error: \(anisotropic): unsupported geometry: voxel size 1e-06 × 1000 × 1 mm is outside "
                            + "0.001…10000.0 mm", in: dir)
        let skewed = dir + "/skewed.nii"
        raw.pixdim = [1, 0.01, 100, 1, 0, 0, 0, 0]
        try raw.write(to: skewed)
        try assertFails(["info", skewed], status: 1,
                        message: "error: \(skewed): unsupported geometry: voxel size 0.01 × 100 × 1 mm is more anisotropic than 1000:1",
                        in: dir)
    }

    func testLargeVoxelsThatNeedTooMuchMemoryAreRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        // pixdim 1000 along i: the model grid is 15334×20×12 voxels at 1.5 mm.
        let scan = try writeScan(dir, spacing: [1000, 1.5, 1.5])
        let r = try runAgg2Exp(["segment", scan, "--model", Self.modelDirectory, "--out", dir + "/o.nii.gz",
                                "--max-memory", "64M"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(scan): the model grid of 3680160 voxels would hold about "), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("more than the 64.0 MB available (--max-memory); lower the count or set --max-memory\n"),
                      r.stderr)
        XCTAssertEqual(listing(dir), ["ct.nii.gz"])
    }

    func testALabelMapThatWouldResampleToAHugeGridIsRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let labels = dir + "/labels.nii.gz"
        try NIfTI.write(LabelMap(grid: Grid(dims: [24, 20, 12], affine: .scaling([1e4, 1e3, 1e3])),
                                 labels: [Int32](repeating: 1, count: 24 * 20 * 12)), to: labels)
        try assertFails(["report", scan, "--model", Self.modelDirectory, "--labels", labels, "--out", dir + "/r.txt"],
                        status: 1,
                        message: "error: \(labels): resampling 24×20×12 voxels of 10000 × 1000 × 1000 mm to 1.5 × 1.5 × 1.5 mm "
                            + "gives 153334×12668×7334 voxels, more than the supported 65536 per axis and 2^31 in total",
                        in: dir)
    }

    func testModelJSONNumbersOutsideTheirDomain() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("feature1", { j in
                var a = j["arguments"] as! [String: Any]
                a["features"] = [4, 6, 1, 10, 12, 4]
                j["arguments"] = a
            }, "BasicUNet arguments: features[2], [3] and [4] must be at least 2 (the decoder halves them), got [4, 6, 1, 10, 12, 4]"),
            ("roi", { j in
                var i = j["inference"] as! [String: Any]
                i["roi_size"] = [16, 16, 1e14]
                j["inference"] = i
            }, "inference.roi_size [16, 16, 100000000000000] exceeds 1024 voxels per axis"),
            ("overlap", { j in
                var i = j["inference"] as! [String: Any]
                i["overlap"] = 0.9999
                j["inference"] = i
            }, "inference.overlap 0.9999 must be in [0, 0.9]"),
            ("overlapText", { j in
                var i = j["inference"] as! [String: Any]
                i["overlap"] = "0.5"
                j["inference"] = i
            }, "inference.overlap must be a number, not \"0.5\""),
            ("clip", { j in
                var p = j["preprocessing"] as! [String: Any]
                var w = p["intensity"] as! [String: Any]
                w["clip"] = "yes"
                p["intensity"] = w
                j["preprocessing"] = p
            }, "preprocessing.intensity.clip must be true or false, not \"yes\""),
            ("duplicate", { j in j["classes"] = ["background", "organ", "organ"] },
             "classes lists \"organ\" twice; class names become CSV columns and must be unique"),
        ]
        for (name, edit, problem) in cases {
            let model = try writeModel(dir, name, edit: edit)
            try assertFails(["segment", scan, "--model", model, "--out", dir + "/o.nii.gz"], status: 1,
                            message: "error: \(model)/model.json: \(problem)", in: dir)
        }
    }

    func testSafetensorsOffsetsMustTileTheDataSectionAndShapesMustNotOverflow() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        func model(_ name: String, header: String, dataBytes: Int) throws -> String {
            let m = try writeModel(dir, name) { _ in }
            var data = Data()
            let h = Array(header.utf8)
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: h)
            data.append(Data(count: dataBytes))
            try data.write(to: URL(fileURLWithPath: m + "/model.safetensors"))
            return m
        }
        let overlap = try model("overlap", header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#, dataBytes: 12)
        try assertFails(["segment", scan, "--model", overlap, "--out", dir + "/o.nii.gz"], status: 1,
                        message: "error: \(overlap)/model.safetensors: tensor 'b' data_offsets [4, 12] overlap the previous tensor (ending at 8)",
                        in: dir)
        let gap = try model("gap", header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}"#, dataBytes: 16)
        try assertFails(["segment", scan, "--model", gap, "--out", dir + "/o.nii.gz"], status: 1,
                        message: "error: \(gap)/model.safetensors: tensor 'b' data_offsets [12, 16] leave a gap after byte 8",
                        in: dir)
        let tail = try model("tail", header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, dataBytes: 12)
        try assertFails(["segment", scan, "--model", tail, "--out", dir + "/o.nii.gz"], status: 1,
                        message: "error: \(tail)/model.safetensors: the tensors end at byte 8 but the data section holds 12 bytes",
                        in: dir)
        let overflow = try model("overflow", header: #"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#, dataBytes: 8)
        try assertFails(["segment", scan, "--model", overflow, "--out", dir + "/o.nii.gz"], status: 1,
                        message: "error: \(overflow)/model.safetensors: tensor 'a' occupies 8 bytes but F32 [4294967296, 4294967296] needs more than 2^63",
                        in: dir)
    }

    func testShardsNearIntMaxAreRejected() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let base = ["aggregate", scan, "--model", Self.modelDirectory, "--method", "gradient", "--csv", dir + "/o.csv"]
        try assertFails(base + ["--shard", "9223372036854775806/9223372036854775807"], status: 64,
                        message: "Error: --shard: \"9223372036854775806/9223372036854775807\" is not a shard; expected I/N "
                            + "with 0 ≤ I < N ≤ 1000000 (e.g. 0/4)", in: dir)
        try assertFails(base, status: 1,
                        message: "error: SLURM_ARRAY_TASK_ID/MIN/STEP: \"id 0, min -9223372036854775808, step 1\" is not a "
                            + "shard; expected I/N with 0 ≤ I < N ≤ 1000000 (e.g. 0/4)", in: dir,
                        environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2",
                                      "SLURM_ARRAY_TASK_MIN": "-9223372036854775808"])
    }

    func testSlurmArrayStepSelectsTheShard() throws {
        // --array=10-16:3 gives ids 10, 13, 16: id 13 is shard 1 of 3.
        let shard = try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "13", "SLURM_ARRAY_TASK_MIN": "10",
                                               "SLURM_ARRAY_TASK_STEP": "3", "SLURM_ARRAY_TASK_COUNT": "3"])
        XCTAssertEqual(shard, Shard(index: 1, count: 3))
        XCTAssertThrowsError(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "14", "SLURM_ARRAY_TASK_MIN": "10",
                                                        "SLURM_ARRAY_TASK_STEP": "3", "SLURM_ARRAY_TASK_COUNT": "3"]))
    }

    // MARK: Counts that would exhaust memory or run for years

    func testAbsurdCountsAreRefusedWithTheirCost() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let explain = ["explain", scan, "--model", Self.modelDirectory, "--target", "organ"]
        try assertFails(explain + ["--method", "integrated-gradients", "--steps", "1000000000", "--max-memory", "1G"],
                        status: 1,
                        message: "error: \(scan): IG with 1000000000 steps would hold about 14.9 GB, more than the 1.0 GB "
                            + "available (--max-memory); lower the count or set --max-memory", in: dir)
        try assertFails(explain + ["--method", "smoothgrad", "--samples", "1000000000"], status: 1,
                        message: "error: \(scan): smoothgrad needs 1000000000 network passes per target, about 3.07 years "
                            + "at the measured rate; pass --yes to run it anyway", in: dir)
        try assertFails(explain + ["--method", "kernelshap", "--samples", "1000000000", "--max-memory", "8G"], status: 1,
                        message: "error: \(scan): KernelSHAP with 1000000000 coalitions of 3 features would hold about "
                            + "92.2 GB, more than the 8.0 GB available (--max-memory); lower the count or set --max-memory",
                        in: dir)
        try assertFails(["evaluate", scan, "--model", Self.modelDirectory, "--methods", "gradient", "--targets", "organ",
                         "--runs", "100000000", "--max-memory", "8G"], status: 1,
                        message: "error: \(scan): 100000000 faithfulness runs of 50176 voxels would hold about 37384.0 GB, "
                            + "more than the 8.0 GB available (--max-memory); lower the count or set --max-memory", in: dir)
        try assertFails(explain + ["--method", "integrated-gradients", "--steps", "0"], status: 64,
                        message: "Error: --steps 0 is outside 1…1099511627776", in: dir)
        try assertFails(explain + ["--method", "gradient", "--max-memory", "lots"], status: 64,
                        message: "Error: --max-memory \"lots\" is not a size such as 512M, 8G or 1.5GiB", in: dir)
    }

    func testNamingATargetTwiceIsAUsageError() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        try assertFails(["aggregate", scan, "--model", Self.modelDirectory, "--method", "kernelshap",
                         "--targets", "organ,1", "--csv", dir + "/o.csv"], status: 64,
                        message: "Error: --targets names class organ twice (\"organ\" and \"1\")", in: dir)
    }

    // MARK: Hangs and silent acceptance in file reading

    func testFIFOIsRefusedWithoutOpening() throws {
        let dir = try makeTemporaryDirectory(self)
        let fifo = dir + "/pipe.nii.gz"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try assertFails(["info", fifo], status: 1,
                        message: "error: \(fifo): cannot read NIfTI file: is a FIFO (named pipe), expected a regular file",
                        in: dir, seconds: 10)
        try assertFails(["info", dir], status: 1,
                        message: "error: \(dir): cannot read NIfTI file: is a directory, expected a file", in: dir)
    }

    func testVoxOffsetMustBeAWholeByteCountPastTheHeader() throws {
        let dir = try makeTemporaryDirectory(self)
        for (name, offset, text) in [("inf", Double.infinity, "inf"), ("nan", Double.nan, "nan"),
                                     ("huge", 3.4e38, "3.3999999521443642e+38"), ("inside", 100, "100.0")] {
            var raw = RawNIfTI()
            raw.voxOffset = offset
            raw.setFloatData([Float](repeating: 1, count: 8))
            let path = dir + "/\(name).nii"
            try raw.write(to: path)
            try assertFails(["info", path], status: 1,
                            message: "error: \(path): invalid header: vox_offset \(text) must be a whole number of bytes "
                                + "in 352…2^40", in: dir)
        }
    }

    func testGzipProblemsHaveTheirOwnMessages() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scan))
        // gzip data under a .nii name.
        let misnamed = dir + "/gz.nii"
        try bytes.write(to: URL(fileURLWithPath: misnamed))
        try assertFails(["info", misnamed], status: 1,
                        message: "error: \(misnamed): holds gzip-compressed data but its name ends in .nii (expected .nii.gz)",
                        in: dir)
        // A flipped byte in the CRC trailer, and one in the middle of the deflate stream.
        for (name, offset) in [("crc.nii.gz", bytes.count - 6), ("stream.nii.gz", bytes.count / 2)] {
            var broken = bytes
            broken[offset] ^= 0xFF
            let path = dir + "/" + name
            try broken.write(to: URL(fileURLWithPath: path))
            try assertFails(["info", path], status: 1,
                            message: "error: \(path): the gzip data is corrupt (CRC or stream error)", in: dir)
        }
    }

    func testNonFiniteValuesInAResultsCSVAreErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        let csv = dir + "/r.csv"
        try "patient,organ_explanation_in_organ_mass\na,0.5\nb,inf\n".write(toFile: csv, atomically: false, encoding: .utf8)
        try assertFails(["global", csv], status: 1,
                        message: "error: \(csv):3: column \"organ_explanation_in_organ_mass\": \"inf\" is not a finite number",
                        in: dir)
    }

    func testGlobalIsLinearInTheColumnCount() throws {
        // 1000 targets × 50 RoIs × (mass, mean) = 100 000 columns, 3 scans. Target t, RoI r has
        // masses (t + r) / 10⁴ · (1, 2, 3), so its median is 2(t + r) / 10⁴ and RoI 49 ranks first.
        let dir = try makeTemporaryDirectory(self)
        let targets = (0..<1000).map { "t\($0)" }, rois = (0..<50).map { "r\($0)" }
        var header = ["patient"]
        for t in targets { for r in rois { header += ["\(t)_explanation_in_\(r)_mass", "\(t)_explanation_in_\(r)_mean"] } }
        var text = header.joined(separator: ",") + "\n"
        for s in 1...3 {
            var row = ["s\(s)"]
            for t in 0..<1000 { for r in 0..<50 { row += ["\(Double((t + r) * s) / 1e4)", "0"] } }
            text += row.joined(separator: ",") + "\n"
        }
        let csv = dir + "/wide.csv"
        try text.write(toFile: csv, atomically: false, encoding: .utf8)
        let start = Date()
        let r = try runAgg2Exp(["global", csv, "--json", dir + "/g.json"])
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(elapsed, 30)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/g.json")))
                                 as? [String: Any])
        let all = try XCTUnwrap(json["targets"] as? [String: Any])
        XCTAssertEqual(all.count, 1000)
        let t999 = try XCTUnwrap((all["t999"] as? [String: Any])?["segments"] as? [String: Any])
        let r49 = try XCTUnwrap(t999["r49"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(r49["median"] as? Double), 2 * 1048 / 1e4, accuracy: 1e-12)
        XCTAssertEqual(r49["n"] as? Int, 3)
    }

    // MARK: Outputs

    func testOutputsAreCheckedBeforeAnyComputation() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let explain = ["explain", scan, "--model", Self.modelDirectory, "--target", "organ", "--method", "gradient"]
        try assertFails(explain + ["--out", dir + "/missing/a.nii.gz"], status: 64,
                        message: "Error: \(dir)/missing/a.nii.gz: the output directory \(dir)/missing does not exist",
                        in: dir, seconds: 5)
        try assertFails(explain + ["--csv", scan], status: 64,
                        message: "Error: \(scan): the output would overwrite the input \(scan)", in: dir, seconds: 5)
        try assertFails(explain + ["--out", dir + "/a.nrrd"], status: 64,
                        message: "Error: \(dir)/a.nrrd: the output name must end in .nii or .nii.gz", in: dir, seconds: 5)
        try "patient\na\n".write(toFile: dir + "/p.csv", atomically: false, encoding: .utf8)
        try assertFails(["merge", dir + "/p.csv", "--csv", dir + "/./p.csv"], status: 64,
                        message: "Error: \(dir)/./p.csv: the output would overwrite the input \(dir)/p.csv", in: dir,
                        seconds: 5)
    }

    /// Under `ulimit -f` the writers get EFBIG instead of being killed by SIGXFSZ, report it, and
    /// remove their temporary file.
    func testFileSizeLimitIsAnErrorAndLeavesNoTemporaryFile() throws {
        guard let exe = agg2expExecutable() else { throw missingPrerequisite("agg2exp executable not built") }
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let cols = (0..<300).map { "organ_explanation_in_r\($0)_mass" }
        for (name, value) in [("p1.csv", "0.5"), ("p2.csv", "0.25")] {
            try (["patient"] + cols).joined(separator: ",").appending("\n\(name),")
                .appending(Array(repeating: value, count: 300).joined(separator: ",") + "\n")
                .write(toFile: dir + "/" + name, atomically: false, encoding: .utf8)
        }
        let before = listing(dir)
        // 1 KB limit (bash counts 1024-byte blocks): the uncompressed label map needs 6 KB.
        for (command, out) in [("segment '\(scan)' --model '\(Self.modelDirectory)' --out '\(dir)/big.nii'", "\(dir)/big.nii"),
                               ("merge '\(dir)/p1.csv' '\(dir)/p2.csv' --csv '\(dir)/m.csv'", "\(dir)/m.csv")] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", "ulimit -f 1; exec '\(exe.path)' \(command)"]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .exit, "killed by a signal")
            XCTAssertEqual(p.terminationStatus, 1, text)
            let problem = "the file exceeds the file-size limit (ulimit -f) or the file system's maximum"
            let expected = out.hasSuffix(".nii") ? "error: \(out): cannot write NIfTI file: \(problem)\n"
                : "error: \(out): cannot write: \(problem)\n"
            XCTAssertEqual(text, expected)
            XCTAssertEqual(listing(dir), before)
        }
    }

    /// SIGTERM ends a run cleanly with 128 + 15 and a one-line note.
    func testSigtermEndsTheRunCleanly() throws {
        guard let exe = agg2expExecutable() else { throw missingPrerequisite("agg2exp executable not built") }
        let dir = try makeTemporaryDirectory(self)
        let scan = try writeScan(dir)
        let p = Process()
        p.executableURL = exe
        p.arguments = ["explain", scan, "--model", Self.modelDirectory, "--target", "organ", "--method", "smoothgrad",
                       "--samples", "100000", "--out", dir + "/a.nii.gz"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        usleep(1_500_000)
        p.terminate()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, text)
        XCTAssertEqual(p.terminationStatus, 143, text)
        XCTAssertTrue(text.hasSuffix("interrupted by SIGTERM; temporary files removed\n"), text)
        XCTAssertEqual(listing(dir), ["ct.nii.gz"])
    }
}
