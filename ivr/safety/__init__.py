"""Hand-off guards: emergencies, self-harm, "a person please", anger (lexicon, learned net, voice)."""
