import FwdwatchConfig
import Testing

@Suite struct DropsConfigurationTests {
    @Test("drop attribution is off by default")
    func offByDefault() {
        #expect(Configuration.defaults.drops.enabled == false)
    }

    @Test("[drops] enabled = true turns it on; false keeps it off")
    func enabled() throws {
        #expect(try ConfigurationParser.parse("[drops]\nenabled = true\n", path: "t.toml").drops.enabled)
        #expect(try !ConfigurationParser.parse("[drops]\nenabled = false\n", path: "t.toml").drops.enabled)
    }

    @Test("an unknown key or a value that is not a boolean names the file, the line and the key")
    func errors() {
        #expect {
            try ConfigurationParser.parse("[drops]\nenabled = \"yes\"\n", path: "t.toml")
        } throws: { error in
            (error as? ConfigurationError)?.description == "t.toml:2: drops.enabled: expected true or false"
        }
        #expect {
            try ConfigurationParser.parse("[drops]\n\nsample = 3\n", path: "t.toml")
        } throws: { error in
            (error as? ConfigurationError)?.description == "t.toml:3: drops.sample: unknown key; known: enabled"
        }
    }
}
