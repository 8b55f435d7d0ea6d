import GPT
import XCTest

/// `GPTWorkspace.floatCount` is what the experiment config checks memory with before anything is
/// allocated; it must stay equal to what a workspace really allocates.
final class WorkspaceSizeTests: XCTestCase {
    func testFloatCountMatchesTheAllocation() {
        let configs = [
            GPTConfig(vocabSize: 64, context: 16, nLayer: 1, nHead: 1, nEmbd: 8),
            GPTConfig(vocabSize: 300, context: 40, nLayer: 3, nHead: 2, nEmbd: 16, dropout: 0.1),
            GPTConfig(vocabSize: 128, context: 32, nLayer: 2, nHead: 4, nEmbd: 32, scalarHead: true),
            GPTConfig(vocabSize: 50, context: 12, nLayer: 2, nHead: 3, nEmbd: 24, nInner: 40, dropout: 0.1),
        ]
        for c in configs {
            for (B, T) in [(1, 1), (3, 16), (2, c.context), (5, 2 * c.context)] {
                let ws = GPTWorkspace(config: c, maxB: B, maxT: T)
                XCTAssertEqual(GPTWorkspace.floatCount(config: c, maxB: B, maxT: T) * 4, ws.bytes, "\(c) B \(B) T \(T)")
            }
        }
    }
}
