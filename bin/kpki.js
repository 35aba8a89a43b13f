#!/usr/bin/env node
// `node bin/kpki.js …` as before; the command itself is bin/kpki.cjs (package.json "bin").
import './kpki.cjs';
