import XCTest

final class CLITestsSmoke: XCTestCase {
    func testPlaceholder() { XCTAssertEqual(1 + 1, 2) }
}
