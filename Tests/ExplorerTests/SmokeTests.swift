import XCTest

final class ExplorerTestsSmoke: XCTestCase {
    func testPlaceholder() { XCTAssertEqual(1 + 1, 2) }
}
