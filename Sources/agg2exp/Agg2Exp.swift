import ArgumentParser
import Engine

@main
struct Agg2Exp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agg2exp",
        abstract: "Explain 3D CT segmentation models with aggregated attributions (Agg²Exp).",
        subcommands: [
            ViewCommand.self,
            InfoCommand.self,
            ReportCommand.self,
            MergeCommand.self,
            GlobalCommand.self,
            SegmentCommand.self,
            ExplainCommand.self,
            AggregateCommand.self,
            EvaluateCommand.self,
            MatrixCommand.self,
            GraphCommand.self,
            ContextCommand.self,
            ClusterCommand.self,
            OutliersCommand.self,
        ],
        defaultSubcommand: ViewCommand.self)
}
