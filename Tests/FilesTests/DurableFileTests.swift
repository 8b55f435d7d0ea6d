import Foundation
import XCTest
@testable import Files

/// `DurableFile.write`: the new content or the old, never a part and never a temporary file left
/// behind; failures are one `FileWriteError` naming the file and the system's reason.
final class DurableFileTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("durable-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    func testWritesAndReplacesWholeThroughATemporaryFileBeside() throws {
        let url = dir.appendingPathComponent("a/b/state.json")
        try DurableFile.write("first", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "first")
        var steps: [DurableFile.Step] = []
        try DurableFile.write(Data("second".utf8), to: url) { steps.append($0) }
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "second")
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".state.json.tmp-\(getpid())")
        XCTAssertEqual(DurableFile.temporaryURL(for: url), tmp)
        XCTAssertEqual(steps, [.wroteTemporary(tmp), .syncedFile, .renamed, .syncedDirectory(url.deletingLastPathComponent(), true)])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path), ["state.json"])
    }

    /// A failure after the temporary file was written (a full disk at fsync, say) leaves the old
    /// content and no temporary file, and the caller gets the failure as it was raised.
    func testAFailingWriteLeavesTheOldContentAndNoTemporaryFile() throws {
        let url = dir.appendingPathComponent("model.safetensors")
        try DurableFile.write("old", to: url)
        for failing in [DurableFile.Step.wroteTemporary(DurableFile.temporaryURL(for: url)), .syncedFile] {
            let full = FileWriteError(path: url.path, code: ENOSPC)
            XCTAssertThrowsError(try DurableFile.write(Data("new".utf8), to: url) { if $0 == failing { throw full } }) { error in
                XCTAssertEqual("\(error)", "\(url.path): cannot write (No space left on device)")
                XCTAssertTrue(DurableFile.isNoSpace(error))
            }
            XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old")
            XCTAssertEqual(try names(), ["model.safetensors"])
        }
    }

    /// A failure the system raises: the rename over a directory that is not empty.
    func testARefusedRenameNamesTheFileAndLeavesNothingBehind() throws {
        let url = dir.appendingPathComponent("report.md")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Data("kept".utf8).write(to: url.appendingPathComponent("inside"))
        XCTAssertThrowsError(try DurableFile.write("text", to: url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): cannot write (Is a directory)")
            XCTAssertFalse(DurableFile.isNoSpace(error))
        }
        XCTAssertEqual(try names(), ["report.md"])
        XCTAssertEqual(try String(contentsOf: url.appendingPathComponent("inside"), encoding: .utf8), "kept")
    }

    func testAParentThatIsAFileIsNamed() throws {
        let blocker = dir.appendingPathComponent("blocker")
        try Data("a regular file".utf8).write(to: blocker)
        XCTAssertThrowsError(try DurableFile.write("x", to: blocker.appendingPathComponent("sub/file.json"))) { error in
            XCTAssertEqual("\(error)", "\(blocker.path): cannot write (Not a directory)")
        }
        XCTAssertEqual(try names(), ["blocker"])
    }

    func testAFullDiskIsRecognisedFromEveryLayer() {
        XCTAssertTrue(FileWriteError(path: "/r/x", code: ENOSPC).isNoSpace)
        XCTAssertTrue(FileWriteError(path: "/r/x", code: EDQUOT).isNoSpace)
        XCTAssertFalse(FileWriteError(path: "/r/x", code: EACCES).isNoSpace)
        let cocoa = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteOutOfSpace.rawValue,
                            userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        XCTAssertTrue(DurableFile.isNoSpace(cocoa))
        XCTAssertTrue(DurableFile.isNoSpace(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))))
        XCTAssertFalse(DurableFile.isNoSpace(NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))))
    }
}
