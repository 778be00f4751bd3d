import XCTest

final class TerminalTestsSmoke: XCTestCase {
    func testPlaceholder() { XCTAssertEqual(1 + 1, 2) }
}
