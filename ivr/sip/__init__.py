"""The telephony layer: real SIP/RTP calls into call sessions (pjsua2, <= 4 calls per process).

endpoint  pjsua2 endpoint (UDP transport, null audio device, no pjsua threads)
media     AudioBridge: the audio port whose callbacks only move bytes through deques
driver    CallDriver: one CallSession per call in real time (20 ms frames, transfer, recording)
call      pjsua2 Call/Account subclasses that forward callbacks to the driver
transfer  REFER target and headers (call id, summary), transfer outcomes
recorder  stereo WAV (caller left, bot right) written while the call goes
allow     peer allow-list (INVITEs from elsewhere get 403)
worker    the SIP worker process; pool: the processes `ivr serve` runs
kamailio  Kamailio in front of several workers (config from infra/kamailio)
stack     everything `ivr serve` starts, in order; caller: a scripted pjsua2 test caller
bench     `ivr bench sip`; load: `ivr bench load`; host_stalls: the host's own pauses beside them
"""
