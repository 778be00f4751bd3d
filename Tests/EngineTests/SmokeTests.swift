import XCTest

final class EngineTestsSmoke: XCTestCase {
    func testPlaceholder() { XCTAssertEqual(1 + 1, 2) }
}
